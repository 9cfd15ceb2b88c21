package delivery

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `1.`, `.5`, `1e`, `1e+`, `1E-7`, `-`, `tru`, `true `, ` null`,
		`{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{"a":1 "b":2}`, `{1:2}`, `"\u00e9"`, `"\u00g9"`, `"\x"`, "\"a\tb\"",
		`"\\"`, `"\"`, `{"a":[{"b":"\\\""}]}`, "\"\xff\"", `[[[[]]]]`, `{"a":{}}x`, `nul`, `[-]`, `[-1.5e10]`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 9999) + strings.Repeat("]", 9999),
	} {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%.40q) = %v, encoding/json says %v", s, got, want)
		}
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if !Valid(b) {
			t.Errorf("%s: not valid", f)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u0041\n"],"b":null}`, `[true,false]`, `"\\\""`, `{"a":1,}`} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := json.Valid(b)
		if got := Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
		checkValidObject(t, b, want)
	})
}

// checkValidObject holds ValidObject to Valid, TopLevel and TopLevel of "detail": the
// one pass must give what the three would.
func checkValidObject(t *testing.T, b []byte, valid bool) {
	t.Helper()
	top, detail, ok := ValidObject(b)
	if ok != valid {
		t.Fatalf("ValidObject(%q) ok = %v, encoding/json says %v", b, ok, valid)
	}
	if trimmed := strings.TrimLeft(string(b), " \t\r\n"); !ok || !strings.HasPrefix(trimmed, "{") {
		if top != nil || detail != nil {
			t.Fatalf("ValidObject(%q) scanned members of something that is no valid object", b)
		}
		return
	}
	if want := TopLevel(b); !reflect.DeepEqual(top, want) {
		t.Fatalf("ValidObject(%q) top = %q, TopLevel says %q", b, top, want)
	}
	raw := top.Get("detail")
	var want Object
	if len(raw) > 0 && raw[0] == '{' {
		want = TopLevel(raw)
	}
	// An escaped "detail" key is left for the caller to scan: nil is allowed then.
	if !reflect.DeepEqual(detail, want) && !(detail == nil && strings.Contains(string(b), `\u`)) {
		t.Fatalf("ValidObject(%q) detail = %q, TopLevel says %q", b, detail, want)
	}
}

func TestValidObject(t *testing.T) {
	for _, s := range []string{
		`{}`, ` {"a":1} `, `{"detail":{"x":[1,{"y":2}],"z":"w"},"source":"s"}`, `{"detail":{}}`, `{"detail":"s"}`,
		`{"detail":{"a":1},"detail":{"b":2}}`, `{"detail":{"a":1},"detail":3}`, `{"d\u0065tail":{"a":1}}`,
		`{"a":{"detail":{"b":1}}}`, `[{"detail":{}}]`, `{"detail":{"a":1}`, `{"detail":{"a":1}}x`, `"s"`,
	} {
		checkValidObject(t, []byte(s), json.Valid([]byte(s)))
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		checkValidObject(t, b, true)
	}
}

func BenchmarkValid(b *testing.B) {
	p, err := os.ReadFile(filepath.Join("..", "..", "events", "sentinel-security-alert.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(p)))
	b.Run("ours", func(b *testing.B) {
		for b.Loop() {
			Valid(p)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Valid(p)
		}
	})
}

// FuzzUnquote holds Unquote to encoding/json's decoding of a string.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`, `"\ud83d"`, `"\ud83dx"`, `"\udc00\ud83d"`, "\"\xff\xfe\"", `"\u12"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want string
		if json.Unmarshal(b, &want) != nil {
			return // Unquote is only given strings a validated document holds
		}
		if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
			return
		}
		if got := Unquote(b); got != want {
			t.Fatalf("Unquote(%q) = %q, encoding/json gives %q", b, got, want)
		}
	})
}
