package delivery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The in-place walkers must agree with encoding/json on valid JSON, escapes and
// brackets inside strings included.
func TestJSONWalkers(t *testing.T) {
	arr := []byte(` [ {"a" : "x\\\"]}" , "b":[1,{"c":"}"}]} , 7, "s{" ,{"k\u0041":1},[{}] ,{ } ] `)[1:]
	var got []string
	EachObject(arr, func(obj []byte) error { got = append(got, string(obj)); return nil })
	want := []string{`{"a" : "x\\\"]}" , "b":[1,{"c":"}"}]}`, `{"k\u0041":1}`, `{ }`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EachObject: got %q\nwant %q", got, want)
	}
	obj := []byte(got[0])
	if v := Member(obj, "b"); string(v) != `[1,{"c":"}"}]` {
		t.Errorf("Member b = %q", v)
	}
	if v := Member(obj, "a"); Unquote(v) != `x\"]}` {
		t.Errorf("Member a = %q", v)
	}
	for _, miss := range [][]byte{obj, []byte(`{}`), []byte(`[]`), nil, []byte(`{"c":1}`)} {
		if v := Member(miss, "c"); v != nil && string(miss) != `{"c":1}` {
			t.Errorf("Member(%q, c) = %q", miss, v)
		}
	}
	if v := Member([]byte(`{"c":1}`), "c"); string(v) != "1" {
		t.Errorf("Member literal = %q", v)
	}
	stop := errors.New("stop")
	n := 0
	if err := EachObject([]byte(`[{},{},{}]`), func([]byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("EachObject did not stop at the first error: %v, %d calls", err, n)
	}
}

func TestGetAgreesWithEncodingJSON(t *testing.T) {
	o := TopLevel([]byte(`{"k": 1, "k": 2, "a\u0026b": 3, "\u003cx\u003e": 4}`))
	if string(o.Get("k")) != "2" {
		t.Errorf("duplicate key: got %s, want the last value as encoding/json does", o.Get("k"))
	}
	if string(o.Get("a&b")) != "3" || string(o.Get("<x>")) != "4" {
		t.Errorf("escaped keys with & < >: %q %q", o.Get("a&b"), o.Get("<x>"))
	}
}

// BenchmarkValueEnd skips a whole real incident, the work TopLevel does for every member
// it passes over.
func BenchmarkValueEnd(b *testing.B) {
	p, err := os.ReadFile(filepath.Join("..", "..", "events", "graph-security-incident.json"))
	if err != nil {
		b.Fatal(err)
	}
	start := bytes.IndexByte(p, '{')
	if end := ValueEnd(p, start); end != len(bytes.TrimRight(p, " \n")) {
		b.Fatalf("ValueEnd = %d, want the end of the document", end)
	}
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		ValueEnd(p, start)
	}
}

// An object with many keys is indexed: duplicates still take the last value, in the first
// one's place, as below linearKeys.
func TestManyKeysAgreeWithEncodingJSON(t *testing.T) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range 3 * linearKeys {
		fmt.Fprintf(&b, `"k%d": %d, `, i%(2*linearKeys), i)
	}
	b.WriteString(`"last": 0}`)
	var want map[string]int
	if err := json.Unmarshal(b.Bytes(), &want); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Object{TopLevel(b.Bytes()), func() Object { top, _, _ := ValidObject(b.Bytes()); return top }()} {
		if len(o) != len(want) {
			t.Fatalf("%d members, want %d", len(o), len(want))
		}
		for k, v := range want {
			if got := string(o.Get(k)); got != fmt.Sprint(v) {
				t.Errorf("%s = %s, want %d", k, got, v)
			}
		}
		if string(o[0].Key) != `"k0"` {
			t.Errorf("first member %s, want k0 where it was first written", o[0].Key)
		}
	}
}

// BenchmarkManyKeys: a payload at MaxPayload that is one object of ~140,000 short keys,
// validated and scanned as Unwrap does. Linear: about 60 ms here, where a scan per key
// took 16 s.
func BenchmarkManyKeys(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i := 0; buf.Len() < MaxPayload-16; i++ {
		fmt.Fprintf(&buf, `"%x":0,`, i)
	}
	buf.WriteString(`"z":0}`)
	p := buf.Bytes()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, _, ok := ValidObject(p); !ok {
			b.Fatal("invalid")
		}
	}
}
