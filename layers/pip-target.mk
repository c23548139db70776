# Shared by the layer Makefiles that `sam build` runs (BuildMethod: makefile; it sets ARTIFACTS_DIR).
# Wheels only, for Lambda's platform and Python whatever machine builds; every dependency is pinned in
# the layer's requirements.txt and installed without resolving others (--no-deps).
PYTHON ?= python3.12
SITE = $(ARTIFACTS_DIR)/python
PIP_INSTALL = $(PYTHON) -m pip install --quiet --no-compile --no-deps --only-binary=:all: \
	--implementation cp --python-version 3.12 \
	--platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
	--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	--target $(SITE)

# Lambda never runs test suites, C headers, type stubs, bytecode caches built elsewhere, onnxruntime's
# model-conversion tools or its C-API library (the Python module links the runtime statically).
# Shared libraries are not stripped: the wheels' bundled libraries (numpy.libs, scipy.libs) are
# patched by auditwheel and stop loading when stripped.
define trim
	find $(SITE) -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
	find $(SITE) -type f \( -name '*.pyc' -o -name '*.pyi' -o -name '*.pxd' -o -name '*.c' -o -name '*.h' \
		-o -name '*.hpp' -o -name '*.cpp' \) -delete
	rm -rf $(SITE)/bin
	rm -rf $(addprefix $(SITE)/onnxruntime/,transformers quantization tools datasets)
	rm -f $(SITE)/onnxruntime/capi/libonnxruntime.so.*
endef

# Serving layers ship bytecode: Lambda's /opt is read-only, so without it every cold start compiles
# every imported module (measured: the predict handler imports in ~850 ms from source, ~450 ms from
# bytecode). unchecked-hash, because zip timestamps would invalidate timestamp-checked .pyc files.
# Built by the venv's Python 3.12, the runtime's version. (The training layer is left as source:
# its bytecode would not fit in Lambda's 250 MB.)
define compile_bytecode
	$(PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash $(SITE)
endef
