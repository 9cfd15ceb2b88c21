package identity

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		in   string
		want Kind
	}{
		{"", Empty},
		{"4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", ObjectID},
		{"4D2C6F3A-8B1E-4F6A-9C3D-2E7B5A1F0C91", ObjectID},
		{"AdeleV@contoso.onmicrosoft.com", UPN},
		{"$svc-sync@contoso.onmicrosoft.com", UPN},
		{"shane.o'brien@contoso.com", UPN},
		{"a!b^c~d_e-f@sub.contoso.co.uk", UPN},
		{"pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com", Guest},
		{"pradeep_fabrikam.com#ext#@contoso.onmicrosoft.com", Guest},
		{"SYSTEM", BuiltIn},
		{"NT AUTHORITY\\SYSTEM", BuiltIn},
		{"nt authority\\network service", BuiltIn},
		{"LOCAL SERVICE", BuiltIn},
		{"S-1-5-18", BuiltIn},
		{"administrator", BuiltIn},
		{"CONTOSO\\administrator", Login}, // a domain admin signs in: not a machine identity
		{"CONTOSO\\dwm-jsmith", Login},
		{"WKS-0042$", BuiltIn},
		{"CONTOSO\\WKS-0042$", BuiltIn},
		{"DWM-1", BuiltIn},
		{"adele.vance", Login},
		{"CONTOSO\\adele.vance", Login},
		{"S-1-5-21-1004336348-1177238915-682003330-1105", SID},
		// Crafted to reach other paths or confuse parsers: never addressable.
		{"../users/AdeleV@contoso.com", Invalid},
		{"AdeleV@contoso.com/revokeSignInSessions", Invalid},
		{"AdeleV@contoso.com?$select=*", Invalid},
		{"Adele%2FV@contoso.com", Invalid},
		{"Adele V@contoso.com", Invalid},
		{"Adele#V@contoso.com", Invalid},
		{"AdeleV#EXT#x@contoso.com", Invalid},
		{"Adele..V@contoso.com", Invalid},
		{".AdeleV@contoso.com", Invalid},
		{"AdeleV@contoso", Invalid},
		{"AdeleV@@contoso.com", Invalid},
		{"AdeleV@contoso..com", Invalid},
		{"AdeleV@-contoso.com", Invalid},
		{"AdeleV\uFF20contoso.com", Invalid}, // fullwidth commercial at
		{"AdeleV@contoso\u2215com", Invalid}, // division slash
		{"Adele\x00V@contoso.com", Invalid},
		{"Adele\nV@contoso.com", Invalid},
		{"@contoso.com", Invalid},
		{strings.Repeat("a", 114) + "@contoso.com", Invalid},
		{strings.Repeat("a", 113) + "@contoso.com", UPN},
		{"4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c9g", Login}, // not hex: a login-shaped name, not an id
		{"a\\b\\c", Invalid},
	}
	for _, c := range cases {
		got, reason := Classify(c.in)
		if got != c.want {
			t.Errorf("Classify(%q) = %v (%s), want %v", c.in, got, reason, c.want)
		}
		if got == Invalid && reason == "" {
			t.Errorf("Classify(%q): Invalid without a reason", c.in)
		}
	}
}

// FuzzClassify holds the one property that matters: whatever is called addressable is
// safe to put in a URL path segment.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"AdeleV@contoso.com", "$x@y.com", "a_b.com#EXT#@c.com", "../x", "S-1-5-18", "CONTOSO\\adele", "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, _ := Classify(s)
		if !k.Addressable() {
			return
		}
		if !utf8.ValidString(s) || strings.ContainsAny(s, "/?%\\ \t\r\n&=+,;:\"<>[]{}|`*") || strings.Contains(s, "..") {
			t.Fatalf("Classify(%q) = %v: addressable but unsafe in a path", s, k)
		}
		if k != Guest && strings.Contains(s, "#") {
			t.Fatalf("Classify(%q) = %v: '#' outside a guest marker", s, k)
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x21 || s[i] >= 0x7f {
				t.Fatalf("Classify(%q) = %v: byte %#x", s, k, s[i])
			}
		}
	})
}
