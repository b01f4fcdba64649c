package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// checkSameSettings checks that an engine variant keeps its layout's
// settings: every service of the original is in the variant with the same
// environment (the stand-in's KAFKAENV_ variables aside), command, ports,
// volumes, hostname and scale, unless the layout leaves it out; the
// variant adds only the stand-in's core.
func checkSameSettings(t *testing.T, r engineLayout) {
	t.Helper()
	orig := loadServices(t, filepath.Join(originalDir(r.name), "compose.yaml"))
	variant := loadServices(t, filepath.Join("testdata/compose-engine", r.name, "compose.yaml"))
	for name := range variant {
		if _, ok := orig[name]; !ok && name != "kafkaenv-core" {
			t.Errorf("the variant adds service %s", name)
		}
	}
	for name, o := range orig {
		v, ok := variant[name]
		if !ok {
			if !slices.Contains(r.left, name) {
				t.Errorf("the variant leaves out service %s", name)
			}
			continue
		}
		if a, b := environment(o["environment"]), environment(v["environment"]); !reflect.DeepEqual(a, b) {
			t.Errorf("service %s: environment %v, the original's %v", name, b, a)
		}
		for _, key := range []string{"command", "volumes", "hostname", "scale"} {
			if a, b := fmt.Sprint(o[key]), fmt.Sprint(v[key]); a != b {
				t.Errorf("service %s: %s %s, the original's %s", name, key, b, a)
			}
		}
		var op []string
		for _, p := range list(o["ports"]) {
			if s := fmt.Sprint(p); !slices.Contains(r.left, s) {
				op = append(op, s)
			}
		}
		var vp []string
		for _, p := range list(v["ports"]) {
			vp = append(vp, fmt.Sprint(p))
		}
		if !slices.Equal(op, vp) {
			t.Errorf("service %s: ports %q, the original's %q (less %q)", name, vp, op, r.left)
		}
	}
}

// Every engine variant keeps its layout's settings (no engine needed).
func TestComposeEngineVariants(t *testing.T) {
	dirs, err := os.ReadDir("testdata/compose-engine")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs {
		if d.IsDir() {
			names = append(names, d.Name())
		}
	}
	var want []string
	for _, l := range engineLayouts {
		want = append(want, l.name)
		t.Run(l.name, func(t *testing.T) { checkSameSettings(t, l) })
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("testdata/compose-engine holds %q; the suite runs %q", names, want)
	}
}

func loadServices(t *testing.T, file string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]map[string]any `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(doc.Services) == 0 {
		t.Fatalf("%s: no services", file)
	}
	return doc.Services
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// environment is a service's environment, in either form, as a map; the
// stand-in's own KAFKAENV_ variables are left out.
func environment(v any) map[string]string {
	out := map[string]string{}
	switch e := v.(type) {
	case map[string]any:
		for k, val := range e {
			out[k] = fmt.Sprint(val)
		}
	case []any:
		for _, kv := range e {
			k, val, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = val
		}
	}
	for k := range out {
		if strings.HasPrefix(k, "KAFKAENV_") {
			delete(out, k)
		}
	}
	return out
}
