package identity

import "strings"

// builtInNames are accounts that exist on every Windows machine or directory and that real
// alerts name (Microsoft's own examples carry SYSTEM in a process evidence). Revoking by
// them is never meant; matched case-insensitively, with or without an NT AUTHORITY\ prefix.
var builtInNames = []string{
	"system", "local system", "localsystem", "local service", "localservice",
	"network service", "networkservice", "anonymous logon", "anonymous",
	"administrator", "guest", "defaultaccount", "wdagutilityaccount", "krbtgt",
	"root", "nobody", "trustedinstaller",
}

// builtInPrefixes are domains whose every account is a machine identity.
var builtInPrefixes = []string{"nt authority\\", "nt service\\", "window manager\\", "font driver host\\", "iis apppool\\", "builtin\\"}

// builtInSIDs are the well-known SIDs of service identities (LocalSystem, LocalService,
// NetworkService) and the anonymous and everyone groups.
var builtInSIDs = []string{"s-1-5-18", "s-1-5-19", "s-1-5-20", "s-1-5-7", "s-1-1-0"}

func isBuiltIn(s string) bool {
	for _, p := range builtInPrefixes {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	for _, sid := range builtInSIDs {
		if strings.EqualFold(s, sid) {
			return true
		}
	}
	name := s
	domain := false
	if i := strings.LastIndexByte(s, '\\'); i >= 0 {
		name, domain = s[i+1:], true
	}
	if strings.IndexByte(name, '@') < 0 {
		// Computer accounts end in '$' (HOST01$, CONTOSO\HOST01$); a '$' at the start of
		// a UPN is a person or a service account that does sign in, so only the no-'@'
		// form counts.
		if len(name) > 1 && name[len(name)-1] == '$' {
			return true
		}
		if domain {
			// CONTOSO\administrator or CONTOSO\dwm-jsmith is a directory account someone
			// signs in with, not a machine identity: the NT AUTHORITY-style domains are
			// the built-in ones, matched above.
			return false
		}
		for _, b := range builtInNames {
			if strings.EqualFold(name, b) {
				return true
			}
		}
		// Desktop Window Manager and font driver virtual accounts: DWM-1, UMFD-0.
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "dwm-") || strings.HasPrefix(lower, "umfd-") {
			return true
		}
	}
	return false
}
