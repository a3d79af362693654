# Sourced by the GPU scripts, from the repository root: installs the wheels carried in .whl/ (PyAV
# and scikit-video for the device image's Python; gpu_check.sh says how to fetch them) into
# /tmp/site and puts that first on PYTHONPATH. A wheel that does not install stops the script.
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site .whl/*.whl \
        || { echo "$(basename "$0"): the carried wheels did not install" >&2; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
