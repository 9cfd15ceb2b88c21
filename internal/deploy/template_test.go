package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func load(t *testing.T) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// get walks mapping keys; nil when absent.
func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// statements finds every IAM policy statement anywhere in the template.
func statements(n *yaml.Node, out *[]*yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind == yaml.MappingNode {
		if st := get(n, "Statement"); st != nil {
			if st.Kind == yaml.SequenceNode {
				*out = append(*out, st.Content...)
			} else {
				*out = append(*out, st)
			}
		}
	}
	for i, c := range n.Content {
		// A role's trust policy says who may assume it, not what it may do: no Resource.
		if n.Kind == yaml.MappingNode && i%2 == 1 && n.Content[i-1].Value == "AssumeRolePolicyDocument" {
			continue
		}
		statements(c, out)
	}
}

func scalars(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, scalars(c)...)
	}
	return out
}

// noResourceType are actions IAM cannot scope to a resource; they may use "*" only under a
// Condition.
var noResourceType = map[string]bool{"sts:GetWebIdentityToken": true}

func TestIAMLeastPrivilege(t *testing.T) {
	var sts []*yaml.Node
	statements(load(t), &sts)
	if len(sts) < 3 {
		t.Fatalf("found %d statements: the walk is broken", len(sts))
	}
	for _, st := range sts {
		sid := "(no Sid)"
		if s := get(st, "Sid"); s != nil {
			sid = s.Value
		}
		for _, a := range scalars(get(st, "Action")) {
			if a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("%s: wildcard action %q", sid, a)
			}
		}
		res := get(st, "Resource")
		if res == nil {
			t.Errorf("%s: no Resource", sid)
		}
		for _, r := range scalars(res) {
			if r == "*" && !(noResourceType[strings.Join(scalars(get(st, "Action")), ",")] && get(st, "Condition") != nil) {
				t.Errorf("%s: Resource \"*\": name the ARN", sid)
			}
		}
		if res != nil && res.Kind == yaml.ScalarNode && res.Tag == "!Sub" && strings.HasSuffix(res.Value, ":*") {
			t.Errorf("%s: resource %q ends in a wildcard", sid, res.Value)
		}
	}
}

func TestFunctionRuntime(t *testing.T) {
	fn := get(load(t), "Resources", "RevokeFunction")
	props := get(fn, "Properties")
	for path, want := range map[string]string{
		"Runtime": "provided.al2023", "Handler": "bootstrap", "Tracing": "Active",
	} {
		if got := get(props, path); got == nil || got.Value != want {
			t.Errorf("%s = %v, want %s", path, got, want)
		}
	}
	if got := scalars(get(props, "Architectures")); len(got) != 1 || got[0] != "arm64" {
		t.Errorf("Architectures %v", got)
	}
	if got := get(fn, "Metadata", "BuildMethod"); got == nil || got.Value != "makefile" {
		t.Error("BuildMethod must be makefile: the Makefile adds -tags lambda.norpc")
	}
	if get(props, "LoggingConfig", "LogFormat").Value != "JSON" {
		t.Error("LogFormat must be JSON")
	}
	if get(props, "ReservedConcurrentExecutions") == nil {
		t.Error("no reserved concurrency")
	}
	if get(props, "EventInvokeConfig", "DestinationConfig", "OnFailure") == nil {
		t.Error("no failure destination: unhandled alerts would be dropped after retries")
	}
}

// TestEverySettingIsAParameter: each variable the function reads in production is set
// by the template. Emulator-only overrides are exempt.
func TestEverySettingIsAParameter(t *testing.T) {
	exempt := map[string]bool{"GRAPH_BASE_URL": true, "AZURE_AUTHORITY_HOST": true, "AWS_LAMBDA_LOG_LEVEL": true}
	read := map[string]bool{}
	re := regexp.MustCompile(`getenv\("([A-Z_]+)"\)`)
	files, _ := filepath.Glob(filepath.Join("..", "app", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(f)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !exempt[m[1]] {
				read[m[1]] = true
			}
		}
	}
	if len(read) < 5 {
		t.Fatalf("found only %v: the scan is broken", read)
	}
	vars := get(load(t), "Resources", "RevokeFunction", "Properties", "Environment", "Variables")
	set := map[string]bool{}
	for i := 0; vars != nil && i+1 < len(vars.Content); i += 2 {
		set[vars.Content[i].Value] = true
	}
	var missing []string
	for v := range read {
		if !set[v] {
			missing = append(missing, v)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the function reads %v but the template does not set them", missing)
	}
}
