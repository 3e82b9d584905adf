#!/usr/bin/env bash
# Writes the release bundle target/dist/emoflow-VERSION-linux-x86_64.tar.gz:
# the emoflow binary and the standard plugins (bin/), the graphs, the docs,
# README and INSTALL.md. Unpacked anywhere on a machine with Python and
# `pip install torch==2.11.0`, it runs the demo: the plugins' runpath does
# not reach that torch, so the host finds it (EMOFLOW_PYTHON or python3's
# torch, or EMOFLOW_LIBTORCH; `bin/emoflow doctor` says which).
#   scripts/dist.sh            build (release) and pack
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-venv.sh
cargo build --release --workspace
version=$(target/release/emoflow --version | awk '{print $2}')
name="emoflow-$version-linux-x86_64"
stage=target/dist/$name
rm -rf "$stage" "target/dist/$name.tar.gz"
mkdir -p "$stage/bin"
# Not the Python plugin (nodes/python): it links libpython3.11, which a
# machine without it could not load, and its kinds need the repository's
# python/ SDK and a venv (docs/python.md); Python kinds run from a built tree.
cp target/release/emoflow "$stage/bin/"
for lib in target/release/libemoflow_*.so; do
    [ "$lib" = target/release/libemoflow_python.so ] || cp "$lib" "$stage/bin/"
done
cp -r graphs docs README.md "$stage/"
mkdir -p "$stage/share/man/man1" "$stage/share/completions"
target/release/emoflow man > "$stage/share/man/man1/emoflow.1"
for shell in bash zsh fish; do
    target/release/emoflow completions "$shell" > "$stage/share/completions/emoflow.$shell"
done
cat > "$stage/INSTALL.md" <<NOTE
# emoflow $version

1. A Python with libtorch for the model and loss plugins:

       python3 -m venv torch-venv && torch-venv/bin/pip install torch==2.11.0

2. Tell emoflow where it is (or put that python3 first on the PATH):

       export EMOFLOW_PYTHON=\$PWD/torch-venv/bin/python3
       # or: export EMOFLOW_LIBTORCH=\$PWD/torch-venv/lib/python3.11/site-packages/torch/lib

3. Check the machine, then run the demo (from this directory):

       bin/emoflow doctor
       bin/emoflow run graphs/demo.toml

bin/ holds the emoflow binary and the standard node plugins it loads from
beside itself; add your own with --plugin-path DIR or EMOFLOW_PLUGIN_PATH.
README.md and docs/ are the documentation; share/man/man1/emoflow.1 the
manual page (man -l share/man/man1/emoflow.1), share/completions/ the
shell completions (bash: source share/completions/emoflow.bash).
NOTE
tar -C target/dist -czf "target/dist/$name.tar.gz" "$name"
echo "wrote target/dist/$name.tar.gz ($(du -h "target/dist/$name.tar.gz" | cut -f1))"
