package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// specPath is api/openapi.yaml, seen from this package's directory (where go test runs).
const specPath = "../../api/openapi.yaml"

// TestRoutesMatchOpenAPI keeps the spec true: every route the public router registers is an
// operation in api/openapi.yaml, and every operation there is a registered route.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	documented, err := specOperations(string(spec))
	if err != nil {
		t.Fatalf("%s: %v", specPath, err)
	}

	var served []string
	for _, pattern := range newTestMain(t, nil).router.Patterns() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || !strings.HasPrefix(path, "/") {
			t.Errorf("route %q needs a method and a host-less path for the spec to describe it", pattern)
			continue
		}
		served = append(served, method+" "+path)
	}

	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("route %s is served but not in %s", op, specPath)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("%s documents %s, which is not served", specPath, op)
		}
	}
}

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// specOperations returns "METHOD /path" for every operation under the spec's top-level
// "paths:" key, in file order.
//
// The service is standard-library only, so this is not a YAML parser: it reads the block
// layout the spec is written in, and fails loudly on what it does not understand rather than
// guess:
//
//	paths:                  a top-level key, at column 0
//	  /v1/things/{id}:      one level in (any width, the same for every path): a path
//	    parameters: ...     two levels in: path-item keys; an HTTP method is an operation
//	    get:
//	      summary: ...      deeper lines are operation bodies and are skipped
//
// Comments, blank lines, quoted keys ('/x': or "/x":) and "x-" extension keys are handled;
// flow style (paths: {...}) and anchors on path keys are not.
func specOperations(spec string) ([]string, error) {
	var (
		ops        []string
		inPaths    bool
		sawPaths   bool
		pathIndent = -1
		itemIndent = -1
		path       string
	)
	for i, line := range strings.Split(spec, "\n") {
		content := strings.TrimSpace(stripComment(line))
		if content == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if indent == 0 {
			inPaths = content == "paths:"
			if strings.HasPrefix(content, "paths:") && !inPaths {
				return nil, fmt.Errorf("line %d: paths must be a block mapping, got %q", i+1, content)
			}
			sawPaths = sawPaths || inPaths
			continue
		}
		if !inPaths {
			continue
		}
		if pathIndent < 0 {
			pathIndent = indent
		}
		switch {
		case indent < pathIndent:
			return nil, fmt.Errorf("line %d: indented less than the first path", i+1)
		case indent == pathIndent:
			key, ok := mappingKey(content)
			if !ok {
				return nil, fmt.Errorf("line %d: want a path key ending in ':', got %q", i+1, content)
			}
			if strings.HasPrefix(key, "x-") {
				path = "" // an extension, not a path
				continue
			}
			if !strings.HasPrefix(key, "/") {
				return nil, fmt.Errorf("line %d: path %q does not start with '/'", i+1, key)
			}
			path, itemIndent = key, -1
		case path == "":
			continue // inside an extension
		default:
			if itemIndent < 0 {
				itemIndent = indent
			}
			if indent != itemIndent {
				continue // deeper: an operation's body
			}
			if key, ok := mappingKey(content); ok && slices.Contains(httpMethods, key) {
				ops = append(ops, strings.ToUpper(key)+" "+path)
			}
		}
	}
	if !sawPaths {
		return nil, fmt.Errorf("no top-level paths: key")
	}
	return ops, nil
}

// mappingKey returns the key of a "key:" line that opens a nested block, unquoted.
func mappingKey(content string) (string, bool) {
	key, ok := strings.CutSuffix(content, ":")
	if !ok || key == "" {
		return "", false
	}
	if len(key) >= 2 && (key[0] == '\'' || key[0] == '"') && key[len(key)-1] == key[0] {
		key = key[1 : len(key)-1]
	}
	return key, true
}

// stripComment removes a YAML comment: '#' at the start or after a space. Path keys and
// method names hold no quoted '#', so quoting need not be tracked.
func stripComment(line string) string {
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return ""
	}
	if i := strings.Index(line, " #"); i >= 0 {
		return line[:i]
	}
	return line
}

func TestSpecOperations(t *testing.T) {
	t.Parallel()
	const spec = `openapi: 3.1.0
info:
  title: test   # a comment
  version: "1"
paths:
    # four-space indentation works as well as two
    /livez:
        get:
            responses:
                "200":
                    description: ok
    '/v1/things/{id}':
        parameters:
        - name: id
          in: path
        get:
            summary: get: a thing
        post:
            description: |
                put:
                delete:
    x-internal:
        get:
            summary: not a path
components:
  schemas:
    Thing:
      type: object
`
	got, err := specOperations(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /livez", "GET /v1/things/{id}", "POST /v1/things/{id}"}
	if !slices.Equal(got, want) {
		t.Errorf("specOperations = %q, want %q", got, want)
	}

	for name, bad := range map[string]string{
		"no paths":   "openapi: 3.1.0\n",
		"flow style": "paths: {}\n",
		"not a key":  "paths:\n  - /livez\n",
		"not a path": "paths:\n  livez:\n    get: {}\n",
	} {
		if ops, err := specOperations(bad); err == nil {
			t.Errorf("%s: specOperations = %q, want an error", name, ops)
		}
	}
}
