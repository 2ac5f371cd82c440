"""ossrag's own checks for schemathesis runs against ``ossrag serve`` (``SCHEMATHESIS_HOOKS``).

    SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=tests schemathesis \\
        --config-file tests/data/schemathesis.toml run http://127.0.0.1:8000/openapi.json

Two of schemathesis's built-in checks are replaced by stricter ones that know
this server (the config file turns the built-ins off):

* ``ossrag_no_server_error`` instead of ``not_a_server_error``: a 5xx is a
  failure unless it is the documented 503 of a knowledge base being ingested
  (the fuzzer's own ingestion jobs cause those) — an error body with the
  OpenAI shape and ``code == "kb_ingesting"``.
* ``ossrag_positive_data`` instead of ``positive_data_acceptance``: a
  schema-valid request may be refused with 400 only for a rule the schema
  cannot express (a Milvus filter's syntax, the last message being the
  user's, an unsupported parameter...), which every such refusal names in its
  ``code``. A 400 without a code is the request validator disagreeing with the
  published schema: the document lied.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

#: 400 codes for rules the schema cannot state (see the module docstring).
SEMANTIC_400 = {
    "invalid_filter",  # a Milvus expression that does not parse
    "invalid_messages",  # the last message must be the user's question, with text
    "invalid_model",  # KB@provider:model with an unknown provider, or a model file
    "invalid_source",  # a URL the fetcher refuses
    "unsupported_parameter",  # n > 1, tools, logprobs, stateful Responses, ...
    "invalid_kb_name",  # a knowledge base name the store refuses
    "invalid_value",  # ossrag's own ConfigError on a value (the message says which)
    "nothing_to_ingest",  # a form whose urls values are all blank, and no files
}


def _error(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


@schemathesis.check
def ossrag_no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    if status < 500:
        return None
    error = _error(response)
    if status == 503 and error.get("code") == "kb_ingesting":
        return None
    raise AssertionError(f"server error {status}: {response.content[:500]!r}")


@schemathesis.check
def ossrag_positive_data(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    # Components the fuzzer generated in negative mode (a schema-invalid header, ...)
    # make the whole case negative whatever its generation mode says.
    if any(info.mode.is_negative for info in meta.components.values()):
        return None
    error = _error(response)
    if error.get("code") in SEMANTIC_400:
        return None
    raise AssertionError(f"a schema-valid request was refused by validation: {error}")
