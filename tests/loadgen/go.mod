// A test-only tool of the template repository (see main.go); the adversarial tests build
// it into the tools cache. It is not part of any generated project.
module loadgen

go 1.25.0
