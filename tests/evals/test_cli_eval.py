import json
import subprocess
import sys

import pytest

from limner.cli.main import main
from limner.evals.heldout import heldout_records


def test_cli_oracle_end_to_end(tmp_path):
    out = tmp_path / "ev"
    r = subprocess.run([sys.executable, "-m", "limner.cli.main", "eval", "generation", "--oracle", "--limit", "18",
                        "--samples", "1", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads((out / "report.json").read_text())
    assert rep["validation"]["valid"] and rep["n_records"] == 18
    assert len(rep["tags"]) == 9  # --limit spreads over the tags
    assert "validation: oracle" in r.stdout


def test_cli_prompts_file_and_bad_input(tmp_path, capsys):
    good = heldout_records()[0]
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(good) + "\n")
    assert main(["eval", "generation", "--oracle", "--prompts", str(p), "--samples", "2", "--out",
                 str(tmp_path / "o")]) == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["samples"] == 2

    p.write_text(json.dumps(good) + "\n{broken\n")
    assert main(["eval", "generation", "--oracle", "--prompts", str(p), "--out", str(tmp_path / "o2")]) == 2
    assert "p.jsonl:2: malformed JSON" in capsys.readouterr().err

    p.write_text(json.dumps({**good, "tag": "sculpture"}) + "\n")
    assert main(["eval", "generation", "--oracle", "--prompts", str(p), "--out", str(tmp_path / "o3")]) == 2
    assert "unknown tag 'sculpture'" in capsys.readouterr().err

    assert main(["eval", "generation", "--oracle", "--prompts", str(tmp_path / "none.jsonl"),
                 "--out", str(tmp_path / "o4")]) == 2
    assert "none.jsonl" in capsys.readouterr().err

    blocker = tmp_path / "f"
    blocker.write_text("x")
    assert main(["eval", "generation", "--oracle", "--limit", "1", "--out", str(blocker / "sub")]) == 2
    assert "not writable" in capsys.readouterr().err
    assert main(["eval", "generation", "--oracle", "--limit", "1", "--out", str(blocker)]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["eval", "generation", "--oracle", "--samples", "0", "--out", str(tmp_path / "o5")]) == 2
    assert "--samples" in capsys.readouterr().err


def test_cli_missing_checkpoint_is_a_clean_error(tmp_path, capsys):
    missing = tmp_path / "nope.safetensors"
    assert main(["eval", "generation", "--checkpoint", str(missing), "--limit", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nope.safetensors" in err and "Traceback" not in err


def test_cli_sampling_flags_are_validated_and_recorded(tmp_path, capsys, tiny_checkpoint):
    assert main(["eval", "generation", "--checkpoint", str(tiny_checkpoint), "--cfg-scale", "-1", "--limit", "1",
                 "--out", str(tmp_path / "bad")]) == 2
    assert "cfg_scale must be >= 0, got -1.0" in capsys.readouterr().err
    out = tmp_path / "o"
    main(["eval", "generation", "--checkpoint", str(tiny_checkpoint), "--cfg-scale", "1.5", "--temperature", "0.9",
          "--novel-temperature", "0.4", "--limit", "1", "--samples", "1", "--out", str(out)])
    rep = json.loads((out / "report.json").read_text())
    assert rep["sampling"]["cfg_scale"] == 1.5 and rep["sampling"]["temperature"] == 0.9
    assert rep["sampling"]["novel_temperature"] == 0.4
    # the pixel-path ablation, measured in the same run on the same record
    assert [r["key"] for r in rep["ablation"]] == ["native", "no_colours", "tokens_only", "paint"]
    assert all(r["n_records"] == 1 and r["samples"] == 1 for r in rep["ablation"]) and rep["pixel_path"] == "native"
    assert "## Pixel-path ablation" in (out / "report.md").read_text()
    assert (out / "ablation" / "tokens_only" / "report.json").is_file()
    main(["eval", "generation", "--checkpoint", str(tiny_checkpoint), "--novel-temperature", "off",
          "--limit", "1", "--samples", "1", "--out", str(out)])
    assert json.loads((out / "report.json").read_text())["sampling"]["novel_temperature"] is None
    with pytest.raises(SystemExit):
        main(["eval", "generation", "--novel-temperature", "-2", "--out", str(out)])
    assert "expected a number >= 0 or 'off', got '-2'" in capsys.readouterr().err


def test_cli_thinking_mode_is_checked_and_recorded(tmp_path, capsys, tiny_checkpoint):
    assert main(["eval", "generation", "--oracle", "--think", "--limit", "1", "--out", str(tmp_path / "a")]) == 2
    assert "--oracle" in capsys.readouterr().err
    assert main(["eval", "generation", "--best-of", "9", "--limit", "1", "--out", str(tmp_path / "b")]) == 2
    assert "--best-of must be between 1 and 8, got 9" in capsys.readouterr().err
    out = tmp_path / "o"
    main(["eval", "generation", "--checkpoint", str(tiny_checkpoint), "--think", "--best-of", "2", "--limit", "1",
          "--samples", "1", "--out", str(out)])
    rep = json.loads((out / "report.json").read_text())
    assert rep["mode"] == {"think": True, "best_of": 2} and rep["n_records"] == 1


def test_cli_tags_keep_only_those_records(tmp_path, capsys):
    assert main(["eval", "generation", "--oracle", "--tags", "text", "--limit", "3", "--samples", "1",
                 "--out", str(tmp_path / "o")]) == 0
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    assert list(rep["tags"]) == ["text"] and rep["n_records"] == 3
    assert main(["eval", "generation", "--oracle", "--tags", "text,sculpture", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "sculpture" in err and "dense_grid" in err  # names the bad tag and the ones there are
    assert not (tmp_path / "o2").exists()
