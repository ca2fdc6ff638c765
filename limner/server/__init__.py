"""limner's OpenAI-compatible HTTP service: Images and Responses APIs, a job queue, history and a web chat UI.

`create_app(settings)` builds the FastAPI app; `limner serve` runs it on uvicorn. The model is loaded at app
start-up (lifespan), never at import.
"""
