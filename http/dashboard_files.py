#!/usr/bin/env python3
"""Writes the dashboard's files (http/dashboard/) into a C++ source: what
the server answers at "/" (http/dashboard.hpp, dashboard_files()).

usage: dashboard_files.py OUT.cpp index.html dashboard.js dashboard.css"""
import hashlib
import json
import os
import sys


def literal(data):
    """Bytes as C++ string literals of at most 100 source characters each:
    printable ASCII as it is, everything else a three-digit octal escape
    (no hex escape swallowing the digits after it, no UTF-16 surrogates)."""
    out, line = [], ""
    for b in data:
        c = chr(b)
        if c in '"\\':
            piece = "\\" + c
        elif 32 <= b < 127:
            piece = c
        else:
            piece = "\\%03o" % b
        if len(line) + len(piece) > 100:
            out.append('"' + line + '"')
            line = ""
        line += piece
    out.append('"' + line + '"')
    return out


TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

out, sources = sys.argv[1], sys.argv[2:]
with open(out, "w", encoding="utf-8") as f:
    f.write("// Generated from http/dashboard/ by http/dashboard_files.py.\n")
    f.write('#include "procman/http/dashboard.hpp"\n\n')
    f.write("namespace procman::http {\n\nnamespace {\n\n")
    rows = []
    for i, src in enumerate(sources):
        name = os.path.basename(src)
        with open(src, encoding="utf-8") as g:
            text = g.read()
        data = text.encode("utf-8")
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        path = "/" if name == "index.html" else "/" + name
        f.write("const char body%d[] =\n" % i)
        for c in literal(data):
            f.write("  " + c + "\n")
        f.write("  ;\n\n")
        rows.append((path, TYPES[os.path.splitext(name)[1]], etag, i))
    f.write("} // namespace\n\n")
    f.write("const std::vector<dashboard_file>& dashboard_files() {\n")
    f.write("  static const std::vector<dashboard_file> files = {\n")
    for path, ctype, etag, i in rows:
        f.write("    {%s, %s, %s, {body%d, sizeof body%d - 1}},\n"
                % (json.dumps(path), json.dumps(ctype), json.dumps(etag), i, i))
    f.write("  };\n  return files;\n}\n\n} // namespace procman::http\n")
