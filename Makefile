.PHONY: demo test venv
demo:   ## the main job on a local cluster (creates .venv on first use)
	scripts/demo.sh
test:   ## the whole test suite, provisioning Docker and HDFS first
	scripts/test.sh
venv:
	scripts/bootstrap.sh
