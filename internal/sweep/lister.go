package sweep

import (
	"context"

	"github.com/session-revoker/session-revoker/internal/alert"
)

// Lister reads one page of a Graph listing.
type Lister interface {
	// ListUsers GETs link: a path relative to the Graph version root (FirstPage) or an
	// @odata.nextLink Graph returned. Errors are *revoke.Error, classified.
	ListUsers(ctx context.Context, link string) (Page, error)
}

// Page is one page of users and the link to the next ("" on the last).
type Page struct {
	Users []alert.Principal
	Next  string
}
