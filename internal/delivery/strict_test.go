package delivery

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStrict(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"name": "x", "dryRun": true}`, ""},
		{`{}`, ""},
		{` { "name" : "x" , "group" : {"nested": {"dryRun": 1}} } `, ""},
		{`{"name": "x", "DRYRUN": false}`, `unknown field "DRYRUN": did you mean "dryRun"?`},
		{`{"approved": true, "APPROVED": true}`, `unknown field "APPROVED"`},
		{`{"dryRun": true, "dryRun": false}`, `field "dryRun" is given twice`},
		{`{"dry\u0052un": false}`, ""},
		{`{"aproved": true}`, `unknown field "aproved"`},
		{`[1]`, "must be a JSON object"},
	} {
		err := Strict([]byte(c.in), "sweep request", "name", "group", "dryRun", "approved")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.in, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.in, err, c.want)
		}
	}
	// An escaped spelling is the same key: given with another spelling, it is a repeat.
	if err := Strict([]byte(`{"dryRun": true, "dry\u0052un": false}`), "r", "dryRun"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("escaped repeat: %v", err)
	}
}

func BenchmarkObjectManyKeys(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; i < 60000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		// Distinct keys, and every tenth a repeat of an earlier one.
		n := i
		if i%10 == 9 {
			n = i / 2
		}
		sb.WriteString(`"k`)
		sb.WriteString(strconv.Itoa(n))
		sb.WriteString(`":`)
		sb.WriteString("1")
	}
	sb.WriteString("}")
	payload := []byte(sb.String())
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		TopLevel(payload)
	}
}

// Clip never splits a character: a long value of accented letters is cut to whole runes.
func TestClip(t *testing.T) {
	if got := Clip("short", 40); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	long := strings.Repeat("é", 50)
	got := Clip(long, 40)
	if !utf8.ValidString(got) || got != strings.Repeat("é", 40)+"…" {
		t.Errorf("Clip = %q", got)
	}
}
