package internal_test

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The dependency rule of this service:
//
//	domain <- application <- infrastructure, adapter
//
// and platform is used by infrastructure, adapters and cmd, never by domain or
// application. Concretely, for the production (non-test) Go files under
// internal/:
//
//   - domain imports only the standard library and its own context's domain;
//   - application imports only the standard library and its own context's
//     domain and application;
//   - no package of a bounded context imports another bounded context;
//   - platform imports no bounded context.
//
// A bounded context is a directory internal/<name>/ (other than platform)
// holding at least one layer directory: domain, application, infrastructure or
// adapter. Any number of contexts is checked. Other directories under internal/
// are shared code the rule says nothing about, except that domain and
// application may not import them either.
//
// Test files are not checked: a test may reach across layers to wire real
// collaborators.
func TestArchitecture(t *testing.T) {
	t.Parallel()

	goMod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	module, err := modulePath(goMod)
	if err != nil {
		t.Fatal(err)
	}
	violations, err := checkDependencies(".", module)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Error(v)
	}
}

// TestCheckDependenciesFindsViolations runs the checker over a synthetic
// service with two contexts, so a checker that stopped finding violations
// would fail here rather than pass TestArchitecture silently.
func TestCheckDependenciesFindsViolations(t *testing.T) {
	t.Parallel()

	const module = "example.test/svc"
	tests := []struct {
		file    string
		imports string
		wantErr string // the rule the violation names; empty if the import is allowed
	}{
		{file: "shop/domain/order.go", imports: "errors"},
		{file: "shop/domain/order_money.go", imports: module + "/internal/shop/domain/money"},
		{file: "shop/domain/money/money.go", imports: "math/big"},
		{file: "shop/domain/uuid.go", imports: "github.com/google/uuid", wantErr: "domain may import only"},
		{file: "shop/domain/log.go", imports: module + "/internal/platform/logging", wantErr: "domain may import only"},
		{file: "shop/domain/app.go", imports: module + "/internal/shop/application", wantErr: "domain may import only"},
		{file: "shop/domain/shared.go", imports: module + "/internal/shared/clock", wantErr: "domain may import only"},
		{file: "shop/domain/other.go", imports: module + "/internal/billing/domain", wantErr: "domain may import only"},
		{file: "shop/domain/order_test.go", imports: "github.com/google/go-cmp/cmp"},
		{file: "shop/application/service.go", imports: module + "/internal/shop/domain"},
		{file: "shop/application/command/create.go", imports: module + "/internal/shop/application"},
		{file: "shop/application/respond.go", imports: module + "/internal/platform/respond", wantErr: "application may import only"},
		{file: "shop/application/memory.go", imports: module + "/internal/shop/infrastructure/memory", wantErr: "application may import only"},
		{file: "shop/application/billing.go", imports: module + "/internal/billing/domain", wantErr: "application may import only"},
		{file: "shop/application/otel.go", imports: "go.opentelemetry.io/otel", wantErr: "application may import only"},
		{file: "shop/adapter/http/handler.go", imports: module + "/internal/shop/application"},
		{file: "shop/adapter/http/respond.go", imports: module + "/internal/platform/respond"},
		{file: "shop/adapter/http/uuid.go", imports: "github.com/google/uuid"},
		{file: "shop/adapter/http/billing.go", imports: module + "/internal/billing/application", wantErr: "must not import another bounded context"},
		{file: "shop/infrastructure/memory/repo.go", imports: module + "/internal/shop/domain"},
		{file: "shop/infrastructure/memory/billing.go", imports: module + "/internal/billing/infrastructure/memory", wantErr: "must not import another bounded context"},
		{file: "billing/domain/invoice.go", imports: "time"},
		{file: "platform/respond/respond.go", imports: "net/http"},
		{file: "platform/respond/problem.go", imports: module + "/internal/platform/logging"},
		{file: "platform/respond/shop.go", imports: module + "/internal/shop/domain", wantErr: "platform must not import a bounded context"},
		{file: "shared/clock/clock.go", imports: module + "/internal/shop/domain"},
		{file: "shop/domain/testdata/bad.go", imports: "github.com/google/uuid"},
	}

	root := t.TempDir()
	for _, tt := range tests {
		path := filepath.Join(root, filepath.FromSlash(tt.file))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		src := fmt.Sprintf("package p\n\nimport _ %q\n", tt.imports)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	violations, err := checkDependencies(root, module)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]violation)
	for _, v := range violations {
		got[v.File] = v
	}
	for _, tt := range tests {
		file := "internal/" + tt.file
		v, found := got[file]
		switch {
		case tt.wantErr == "" && found:
			t.Errorf("%s importing %q: unexpected violation: %s", tt.file, tt.imports, v)
		case tt.wantErr != "" && !found:
			t.Errorf("%s importing %q: no violation reported, want one saying %q", tt.file, tt.imports, tt.wantErr)
		case found:
			// The message is all a user sees: it must name the file and line,
			// the import and the rule.
			msg := v.String()
			for _, part := range []string{file + ":3", strconv.Quote(tt.imports), tt.wantErr} {
				if !strings.Contains(msg, part) {
					t.Errorf("violation message %q does not contain %q", msg, part)
				}
			}
		}
	}
	if len(got) != len(violations) {
		t.Errorf("%d violations for %d files: a file was reported twice: %v", len(violations), len(got), violations)
	}
}

// violation is one import that breaks the dependency rule.
type violation struct {
	File   string // slash-separated, relative to the module root
	Line   int
	Import string
	Rule   string
}

func (v violation) String() string {
	return fmt.Sprintf("%s:%d imports %q: %s", v.File, v.Line, v.Import, v.Rule)
}

// location is where a package sits in the layout: its bounded context (empty
// for platform and shared code) and its layer (the directory under the
// context, or "platform").
type location struct {
	context string
	layer   string
}

// checkDependencies returns the imports of the non-test Go files under the
// internal directory at root that break the dependency rule. module is the
// module path, which tells the service's own packages from others.
func checkDependencies(root, module string) ([]violation, error) {
	contexts, err := findContexts(root)
	if err != nil {
		return nil, err
	}
	locate := func(rel string) (location, bool) {
		first, rest, _ := strings.Cut(rel, "/")
		if first == "platform" {
			return location{layer: "platform"}, true
		}
		if !contexts[first] {
			return location{}, false
		}
		layer, _, _ := strings.Cut(rest, "/")
		return location{context: first, layer: layer}, true
	}

	var violations []violation
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			// The go command ignores these directories, so the build does too.
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		from, ok := locate(rel)
		if !ok {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, spec := range file.Imports {
			imported, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if rule := breaks(from, imported, module, locate); rule != "" {
				violations = append(violations, violation{
					File:   "internal/" + rel,
					Line:   fset.Position(spec.Pos()).Line,
					Import: imported,
					Rule:   rule,
				})
			}
		}
		return nil
	})
	return violations, err
}

// breaks returns the rule that importing imported from a package at from
// breaks, or "" if the import is allowed.
func breaks(from location, imported, module string, locate func(rel string) (location, bool)) string {
	var to location
	var toKnown bool
	if rel, ok := strings.CutPrefix(imported, module+"/internal/"); ok {
		to, toKnown = locate(rel)
	}
	// The go command reserves import paths without a dot in the first
	// element for the standard library.
	first, _, _ := strings.Cut(imported, "/")
	standard := !strings.Contains(first, ".") && imported != module && !strings.HasPrefix(imported, module+"/")
	sameContext := toKnown && to.context != "" && to.context == from.context

	switch {
	case from.layer == "domain":
		if standard || sameContext && to.layer == "domain" {
			return ""
		}
		return "domain may import only the standard library and its own context's domain packages; " +
			"declare a port (an interface) in domain and implement it in infrastructure instead"
	case from.layer == "application":
		if standard || sameContext && (to.layer == "domain" || to.layer == "application") {
			return ""
		}
		return "application may import only the standard library and its own context's domain and application packages; " +
			"declare a port for what the use case needs and implement it in infrastructure or an adapter"
	case from.layer == "platform":
		if toKnown && to.context != "" {
			return "platform must not import a bounded context: contexts use platform, never the reverse"
		}
	case toKnown && to.context != "" && to.context != from.context:
		return fmt.Sprintf("the %s context must not import another bounded context (%s); "+
			"depend on a port of your own and adapt the other context's API to it", from.context, to.context)
	}
	return ""
}

// findContexts returns the names of the bounded contexts under root: the
// directories other than platform that hold a layer directory.
func findContexts(root string) (map[string]bool, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	contexts := make(map[string]bool)
	for _, entry := range entries {
		if !entry.IsDir() || entry.Name() == "platform" {
			continue
		}
		for _, layer := range []string{"domain", "application", "infrastructure", "adapter"} {
			info, err := os.Stat(filepath.Join(root, entry.Name(), layer))
			if err == nil && info.IsDir() {
				contexts[entry.Name()] = true
				break
			}
		}
	}
	return contexts, nil
}

// modulePath returns the module path declared in the go.mod file goMod.
func modulePath(goMod []byte) (string, error) {
	for line := range strings.Lines(string(goMod)) {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "module" {
			continue
		}
		if module, err := strconv.Unquote(fields[1]); err == nil {
			return module, nil
		}
		return fields[1], nil
	}
	return "", errors.New("go.mod has no module directive")
}
