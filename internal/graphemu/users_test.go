package graphemu

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Other packages' fixtures name these users; they must not change.
func TestDefaultUsersHoldsTheDocumentedDirectory(t *testing.T) {
	want := []User{
		{ID: "4d2c6f3a-8b1e-4f6a-9c3d-2e7b5a1f0c91", UserPrincipalName: "AdeleV@contoso.onmicrosoft.com", DisplayName: "Adele Vance", UserType: "Member"},
		{ID: "b9a7e5c3-1d2f-4e6a-8b0c-3f5d7e9a1b24", UserPrincipalName: "AlexW@contoso.onmicrosoft.com", DisplayName: "Alex Wilber", UserType: "Member"},
		{ID: "7e1c9a5b-3f2d-4c8e-a6b0-9d4f2e8c1a37", UserPrincipalName: "MeganB@contoso.onmicrosoft.com", DisplayName: "Megan Bowen", UserType: "Member"},
		{ID: "c3f8d1e6-5a7b-4c9d-8e2f-1a6b4d9c7e05", UserPrincipalName: "$svc-sync@contoso.onmicrosoft.com", DisplayName: "Sync service", UserType: "Member"},
		{ID: "e5b2a8d4-9c1f-4a3e-b7d6-0c8f5e2a9b16", UserPrincipalName: "pradeep_fabrikam.com#EXT#@contoso.onmicrosoft.com", DisplayName: "Pradeep Gupta (Fabrikam)", UserType: "Guest"},
		{ID: "0f6d3b9e-2a4c-4e8b-9d1f-5c7a3e6b8d42", UserPrincipalName: "breakglass01@contoso.onmicrosoft.com", DisplayName: "Emergency access 01", UserType: "Member"},
		{ID: "a1d4c7f2-6e9b-4b3a-8c5d-7f2e1b9a4c68", UserPrincipalName: "LeeG@contoso.onmicrosoft.com", DisplayName: "Lee Gu", UserType: "Member"},
		{ID: "d8e3b6a1-4c7f-4d2e-9a8b-6e1f3c5d7a90", UserPrincipalName: "PattiF@contoso.onmicrosoft.com", DisplayName: "Patti Fernandez", UserType: "Member"},
	}
	got := DefaultUsers()
	byID := map[string]User{}
	for _, u := range got {
		byID[u.ID] = u
	}
	past := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	for _, w := range want {
		u, ok := byID[w.ID]
		if !ok {
			t.Errorf("missing %s", w.UserPrincipalName)
			continue
		}
		if !u.SignInSessionsValidFromDateTime.Equal(past) {
			t.Errorf("%s: signInSessionsValidFromDateTime %v, want %v", w.UserPrincipalName, u.SignInSessionsValidFromDateTime, past)
		}
		u.SignInSessionsValidFromDateTime = time.Time{}
		if !reflect.DeepEqual(u, w) {
			t.Errorf("got %+v\nwant %+v", u, w)
		}
	}
}

func TestLoadUsersRejectsBadDirectories(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field": `{"users":[{"id":"x","userPrincipalName":"a@b","display_name":"A"}]}`,
		"duplicate UPN":  `{"users":[{"id":"x","userPrincipalName":"a@b"},{"id":"y","userPrincipalName":"A@B"}]}`,
		"missing id":     `{"users":[{"userPrincipalName":"a@b"}]}`,
		"bad userType":   `{"users":[{"id":"x","userPrincipalName":"a@b","userType":"Admin"}]}`,
		"slash in UPN":   `{"users":[{"id":"x","userPrincipalName":"a/b@c"}]}`,
		"not JSON":       `users: []`,
	} {
		if _, err := LoadUsers(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLoadUsersAppliesGraphDefaults(t *testing.T) {
	users, err := LoadUsers(strings.NewReader(`{"users":[{"id":"ABC","userPrincipalName":"a@b","signInSessionsValidFromDateTime":"2026-11-01T09:00:00+01:00"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	u := users[0]
	if u.ID != "abc" || u.UserType != "Member" || u.SignInSessionsValidFromDateTime.Location() != time.UTC {
		t.Errorf("got %+v", u)
	}
}

func TestNewServerPanicsOnDuplicateUsers(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewServer([]User{{ID: "a", UserPrincipalName: "x@y"}, {ID: "A", UserPrincipalName: "z@y"}})
}
