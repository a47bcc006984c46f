# placeholder, replaced by the test-apiserver build
testenv:
	@true
cluster:
	@echo "not yet"
