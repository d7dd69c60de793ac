#!/usr/bin/env python3
"""Writes docs/openapi.yaml as JSON into a C++ source: the document that
`GET /api/v1/openapi.json` serves (http/api.hpp, openapi_json()).

usage: openapi_json.py docs/openapi.yaml OUT.cpp"""
import json
import sys

import yaml

src, out = sys.argv[1], sys.argv[2]
with open(src, encoding="utf-8") as f:
    doc = yaml.safe_load(f)
text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True)
# A C++ string literal of escaped characters: no raw-string delimiter to
# collide with, and no line of unbounded length.
chunks = [text[i:i + 100] for i in range(0, len(text), 100)]
with open(out, "w", encoding="utf-8") as f:
    f.write("// Generated from docs/openapi.yaml by http/openapi_json.py.\n")
    f.write('#include "procman/http/api.hpp"\n\n')
    f.write("namespace procman::http {\n\nnamespace {\n\n")
    f.write("const char document[] =\n")
    for c in chunks:
        f.write("  " + json.dumps(c) + "\n")
    f.write("  ;\n\n} // namespace\n\n")
    f.write("std::string_view openapi_json() {\n")
    f.write("  return {document, sizeof document - 1};\n}\n\n")
    f.write("} // namespace procman::http\n")
