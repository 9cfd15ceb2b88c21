package graphemu

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Fixed test identity of the emulated tenant and app registration. They are fake values made
// for this emulator, safe to commit; no real tenant or app has them.
const (
	DefaultTenantID     = "2f6c1a9e-4b7d-4c3e-8a15-6d9e0b7f3c21"
	DefaultTenantDomain = "contoso.onmicrosoft.com"
	DefaultClientID     = "6b3e9d1f-7a2c-4e8b-b5d4-1c9f0e2a7d63"
	DefaultClientSecret = "emu~secret~Q7xK2pV9mR4tW8zN"
)

// User is one directory entry, with the properties Graph returns for this project's calls.
type User struct {
	ID                              string    `json:"id"` // object id (GUID, lowercase)
	UserPrincipalName               string    `json:"userPrincipalName"`
	DisplayName                     string    `json:"displayName,omitempty"`
	UserType                        string    `json:"userType,omitempty"` // "Member" (default) or "Guest"
	SignInSessionsValidFromDateTime time.Time `json:"signInSessionsValidFromDateTime"`
	// RiskLevel and RiskState make the user one of Identity Protection's risky users
	// (GET /identityProtection/riskyUsers); empty RiskLevel: not risky.
	RiskLevel string `json:"riskLevel,omitempty"` // low, medium, high
	RiskState string `json:"riskState,omitempty"` // atRisk, confirmedCompromised, remediated, dismissed
	// Groups are the object ids of the groups the user belongs to, directly or through a
	// nested group: GET /groups/{id}/transitiveMembers lists them.
	Groups []string `json:"groups,omitempty"`
}

// Identity Protection's values (microsoft.graph.riskLevel, microsoft.graph.riskState).
var (
	riskLevels = []string{"low", "medium", "high", "hidden", "none"}
	riskStates = []string{"none", "confirmedSafe", "remediated", "dismissed", "atRisk", "confirmedCompromised"}
)

// directoryJSON is the default contoso directory. Other packages' fixtures name these users,
// so entries are only ever added, never changed.
//
//go:embed directory.json
var directoryJSON []byte

// DefaultUsers returns a fresh copy of the embedded contoso directory (members, a guest, a
// "$" UPN, a break-glass account, an apostrophe in a UPN).
func DefaultUsers() []User {
	users, err := LoadUsers(bytes.NewReader(directoryJSON))
	if err != nil {
		// The file is embedded and covered by a test; failing here is a build defect.
		panic("graphemu: embedded directory.json: " + err.Error())
	}
	return users
}

// LoadUsers reads a JSON directory: {"users": [User, ...]}. Unknown fields are rejected so a
// misspelt property fails the fixture instead of silently becoming a zero value.
func LoadUsers(r io.Reader) ([]User, error) {
	var doc struct {
		Users []User `json:"users"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("graphemu: reading directory: %w", err)
	}
	if err := validateUsers(doc.Users); err != nil {
		return nil, err
	}
	for i := range doc.Users {
		doc.Users[i] = normalizeUser(doc.Users[i])
	}
	return doc.Users, nil
}

// normalizeUser applies Graph's defaults so lookups and answers do not depend on fixture style.
func normalizeUser(u User) User {
	u.ID = strings.ToLower(u.ID)
	if u.UserType == "" {
		u.UserType = "Member"
	}
	u.SignInSessionsValidFromDateTime = u.SignInSessionsValidFromDateTime.UTC()
	if u.RiskLevel != "" && u.RiskState == "" {
		u.RiskState = "atRisk"
	}
	// A new slice only when a group id changes: GenerateUsers shares one between all its
	// users, which a copy per user would multiply by 100,000.
	if slices.ContainsFunc(u.Groups, func(g string) bool { return strings.ToLower(g) != g }) {
		groups := make([]string, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = strings.ToLower(g)
		}
		u.Groups = groups
	}
	return u
}

// validateUsers rejects directories the emulator could not answer for unambiguously.
func validateUsers(users []User) error {
	seen := make(map[string]bool, 2*len(users))
	var errs []error
	for i, u := range users {
		if u.ID == "" || u.UserPrincipalName == "" {
			errs = append(errs, fmt.Errorf("graphemu: user %d: id and userPrincipalName are required", i))
			continue
		}
		if strings.ContainsAny(u.ID+u.UserPrincipalName, "/?") {
			errs = append(errs, fmt.Errorf("graphemu: user %d: %q: '/' and '?' cannot be addressed in a Graph path", i, u.UserPrincipalName))
		}
		switch u.UserType {
		case "", "Member", "Guest":
		default:
			errs = append(errs, fmt.Errorf("graphemu: user %d: userType %q: want Member or Guest", i, u.UserType))
		}
		if u.RiskLevel != "" && !slices.Contains(riskLevels, u.RiskLevel) || u.RiskState != "" && !slices.Contains(riskStates, u.RiskState) {
			errs = append(errs, fmt.Errorf("graphemu: user %d: riskLevel %q / riskState %q: want %v / %v", i, u.RiskLevel, u.RiskState, riskLevels, riskStates))
		}
		for _, g := range u.Groups {
			if !isGUID(g) {
				errs = append(errs, fmt.Errorf("graphemu: user %d: group %q is not an object id", i, g))
			}
		}
		for _, k := range []string{strings.ToLower(u.ID), strings.ToLower(u.UserPrincipalName)} {
			if seen[k] {
				errs = append(errs, fmt.Errorf("graphemu: user %d: duplicate key %q", i, k))
			}
			seen[k] = true
		}
	}
	return errors.Join(errs...)
}

// isGUID reports whether s is an object id: 8-4-4-4-12 hex digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
