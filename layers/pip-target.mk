# Shared by the layer Makefiles that `sam build` runs (BuildMethod: makefile; it sets ARTIFACTS_DIR).
# Wheels only, for Lambda's platform and Python whatever machine builds; every dependency is pinned in
# the layer's requirements.txt and installed without resolving others (--no-deps).
PYTHON ?= python3.11
SITE = $(ARTIFACTS_DIR)/python
PIP_INSTALL = $(PYTHON) -m pip install --quiet --no-compile --no-deps --only-binary=:all: \
	--implementation cp --python-version 3.11 \
	--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
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
