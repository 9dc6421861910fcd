"""Programming language of a source file, from its file name, its extension or its shebang line.

Names are those of GitHub Linguist (``Python``, ``C++``, ``Shell``...), so they match the
``language`` field of public code datasets. A file matching none of them has no language (the
code reader skips it as ``unknown_extension``).
"""

from __future__ import annotations

import re

#: Whole file names (exact) -> language.
FILENAMES = {
    "Makefile": "Makefile",
    "makefile": "Makefile",
    "GNUmakefile": "Makefile",
    "Dockerfile": "Dockerfile",
    "Containerfile": "Dockerfile",
    "CMakeLists.txt": "CMake",
    "meson.build": "Meson",
    "Rakefile": "Ruby",
    "Gemfile": "Ruby",
    "Vagrantfile": "Ruby",
    "Podfile": "Ruby",
    "BUILD": "Starlark",
    "BUILD.bazel": "Starlark",
    "WORKSPACE": "Starlark",
    "SConstruct": "Python",
    "SConscript": "Python",
    "Snakefile": "Python",
    "Jenkinsfile": "Groovy",
    "Justfile": "Just",
    "justfile": "Just",
    ".bashrc": "Shell",
    ".bash_profile": "Shell",
    ".profile": "Shell",
    ".zshrc": "Shell",
    "configure.ac": "M4",
    "Kconfig": "Kconfig",
}

#: Extensions (lower case, with the dot) -> language.
EXTENSIONS = {
    ".py": "Python",
    ".pyi": "Python",
    ".pyx": "Cython",
    ".pxd": "Cython",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".cxx": "C++",
    ".hpp": "C++",
    ".hh": "C++",
    ".hxx": "C++",
    ".ipp": "C++",
    ".cu": "CUDA",
    ".cuh": "CUDA",
    ".m": "Objective-C",
    ".mm": "Objective-C++",
    ".java": "Java",
    ".kt": "Kotlin",
    ".kts": "Kotlin",
    ".scala": "Scala",
    ".groovy": "Groovy",
    ".gradle": "Groovy",
    ".clj": "Clojure",
    ".cljs": "Clojure",
    ".cs": "C#",
    ".fs": "F#",
    ".vb": "Visual Basic .NET",
    ".go": "Go",
    ".rs": "Rust",
    ".swift": "Swift",
    ".zig": "Zig",
    ".nim": "Nim",
    ".d": "D",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".jsx": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".mts": "TypeScript",
    ".cts": "TypeScript",
    ".vue": "Vue",
    ".svelte": "Svelte",
    ".html": "HTML",
    ".htm": "HTML",
    ".xhtml": "HTML",
    ".css": "CSS",
    ".scss": "SCSS",
    ".sass": "Sass",
    ".less": "Less",
    ".rb": "Ruby",
    ".erb": "HTML+ERB",
    ".php": "PHP",
    ".pl": "Perl",
    ".pm": "Perl",
    ".t": "Perl",
    ".pod": "Pod",
    ".lua": "Lua",
    ".r": "R",
    ".jl": "Julia",
    ".sh": "Shell",
    ".bash": "Shell",
    ".zsh": "Shell",
    ".ksh": "Shell",
    ".fish": "fish",
    ".ps1": "PowerShell",
    ".psm1": "PowerShell",
    ".bat": "Batchfile",
    ".cmd": "Batchfile",
    ".tcl": "Tcl",
    ".tk": "Tcl",
    ".awk": "Awk",
    ".sed": "sed",
    ".hs": "Haskell",
    ".lhs": "Haskell",
    ".ml": "OCaml",
    ".mli": "OCaml",
    ".elm": "Elm",
    ".ex": "Elixir",
    ".exs": "Elixir",
    ".erl": "Erlang",
    ".hrl": "Erlang",
    ".lisp": "Common Lisp",
    ".lsp": "Common Lisp",
    ".el": "Emacs Lisp",
    ".scm": "Scheme",
    ".rkt": "Racket",
    ".dart": "Dart",
    ".sol": "Solidity",
    ".v": "Verilog",
    ".sv": "SystemVerilog",
    ".vhd": "VHDL",
    ".vhdl": "VHDL",
    ".f": "Fortran",
    ".f90": "Fortran",
    ".f95": "Fortran",
    ".for": "Fortran",
    ".asm": "Assembly",
    ".s": "Assembly",
    ".pas": "Pascal",
    ".ada": "Ada",
    ".adb": "Ada",
    ".ads": "Ada",
    ".cob": "COBOL",
    ".cbl": "COBOL",
    ".sql": "SQL",
    ".proto": "Protocol Buffer",
    ".thrift": "Thrift",
    ".graphql": "GraphQL",
    ".cmake": "CMake",
    ".mk": "Makefile",
    ".mak": "Makefile",
    ".m4": "M4",
    ".json": "JSON",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".toml": "TOML",
    ".xml": "XML",
    ".ini": "INI",
    ".cfg": "INI",
    ".md": "Markdown",
    ".markdown": "Markdown",
    ".rst": "reStructuredText",
    ".tex": "TeX",
    ".ipynb": "Jupyter Notebook",
    ".nix": "Nix",
    ".tf": "HCL",
    ".hcl": "HCL",
    ".dockerfile": "Dockerfile",
    ".vim": "Vim Script",
    ".bzl": "Starlark",
}

#: Interpreters named by a shebang line -> language.
INTERPRETERS = {
    "python": "Python",
    "pypy": "Python",
    "sh": "Shell",
    "bash": "Shell",
    "dash": "Shell",
    "zsh": "Shell",
    "ksh": "Shell",
    "ash": "Shell",
    "fish": "fish",
    "perl": "Perl",
    "ruby": "Ruby",
    "node": "JavaScript",
    "nodejs": "JavaScript",
    "deno": "TypeScript",
    "php": "PHP",
    "lua": "Lua",
    "tclsh": "Tcl",
    "wish": "Tcl",
    "expect": "Tcl",
    "awk": "Awk",
    "gawk": "Awk",
    "mawk": "Awk",
    "nawk": "Awk",
    "Rscript": "R",
    "julia": "Julia",
    "sed": "sed",
    "make": "Makefile",
    "guile": "Scheme",
    "racket": "Racket",
    "escript": "Erlang",
    "elixir": "Elixir",
    "runghc": "Haskell",
    "osascript": "AppleScript",
}

_SHEBANG = re.compile(r"^#!\s*(\S+)(?:\s+(.*))?")
_VERSION = re.compile(r"[0-9.]+$")


def language_from_name(name: str, extra: dict[str, str] | None = None) -> str | None:
    """Language from a file's base name or extension (``extra`` extensions win)."""
    base = name.rsplit("/", 1)[-1]
    if base in FILENAMES:
        return FILENAMES[base]
    dot = base.rfind(".")
    if dot <= 0 and not base.startswith("."):
        return None
    ext = base[dot:].lower() if dot > 0 else base.lower()
    if extra and ext in extra:
        return extra[ext]
    return EXTENSIONS.get(ext)


def language_from_shebang(first_line: str) -> str | None:
    """Language from a ``#!`` line: ``#!/usr/bin/env python3`` -> Python."""
    match = _SHEBANG.match(first_line)
    if not match:
        return None
    program = match.group(1).rsplit("/", 1)[-1]
    if program == "env" and match.group(2):
        args = [a for a in match.group(2).split() if not a.startswith("-") and "=" not in a]
        program = args[0] if args else ""
    return INTERPRETERS.get(_VERSION.sub("", program)) or INTERPRETERS.get(program)
