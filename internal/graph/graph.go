// Package graph is the Microsoft Graph client of this function, and the only package that
// imports msgraph-sdk-go (its models package costs minutes to compile: everything else
// stays fast by depending on the small interface in package revoke instead).
//
// It makes POST /users/{id}/revokeSignInSessions and GET /users/{id}?$select=... for
// alerts, and for sweeps lists pages of /identityProtection/riskyUsers or a group's
// transitive members. It never retries on its own:
// retries, with Retry-After honoured to the millisecond, are package revoke's.
package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	core "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/session-revoker/session-revoker/internal/alert"
	"github.com/session-revoker/session-revoker/internal/revoke"
	"github.com/session-revoker/session-revoker/internal/sweep"
)

// sdkVersion goes into the SdkVersion telemetry header, as the SDK's own adapter does.
const sdkVersion = "1.89.0"

// Client calls Graph for one app registration. Build it once per container: its
// credential caches the token across invocations.
type Client struct {
	adapter *core.GraphRequestAdapterBase
	root    string
}

// New builds a client over cred.
func New(cfg Config, cred azcore.TokenCredential) (*Client, error) {
	e, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	// Without the Graph host listed, the auth provider silently sends no token to any
	// host it does not know (the emulator, a proxy).
	auth, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{e.scope}, []string{e.host})
	if err != nil {
		return nil, fmt.Errorf("graph auth provider: %w", err)
	}
	options := core.GraphClientOptions{GraphServiceLibraryVersion: sdkVersion}
	httpClient := khttp.GetDefaultClient()
	httpClient.Transport = khttp.NewCustomTransportWithParentTransport(transport(), middlewares(&options)...)
	// The SDK's service client registers these itself; without it a JSON body, even an
	// error's, "does not have a factory registered to be parsed".
	adapter, err := core.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, options,
		jsonser.NewJsonParseNodeFactory(), jsonser.NewJsonSerializationWriterFactory(), httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(e.root + "/v1.0")
	return &Client{adapter: adapter, root: e.root + "/v1.0"}, nil
}

// idleConns is how many connections to Graph stay open between calls: more than the
// workers that call at once (revoke.Options.Concurrency, a sweep's consumers), so that
// over HTTP/1.1 (a proxy, the emulator) no call pays for a new TLS handshake. Go's default
// keeps two, and a sweep of four workers opened a connection for almost every request.
const idleConns = 32

func transport() http.RoundTripper {
	t, ok := khttp.GetDefaultTransport().(*http.Transport)
	if !ok {
		return khttp.GetDefaultTransport()
	}
	t.MaxIdleConns, t.MaxIdleConnsPerHost = idleConns, idleConns
	return t
}

// middlewares is the SDK's default pipeline without its retry handler: that one retries
// a 429 up to three times with whole seconds (it truncates a fractional Retry-After to
// zero) under its own 180 s budget, blind to the Lambda deadline.
func middlewares(options *core.GraphClientOptions) []khttp.Middleware {
	all := core.GetDefaultMiddlewaresWithOptions(options)
	kept := all[:0]
	for _, m := range all {
		if _, retry := m.(*khttp.RetryHandler); !retry {
			kept = append(kept, m)
		}
	}
	return append(kept, statusRecorder{})
}

// RevokeSignInSessions calls POST /users/{user}/revokeSignInSessions.
func (c *Client) RevokeSignInSessions(ctx context.Context, user string) (revoke.Call, error) {
	inspect := headersOption()
	cfg := &users.ItemRevokeSignInSessionsRequestBuilderPostRequestConfiguration{Options: []abs.RequestOption{inspect}, Headers: abs.NewRequestHeaders()}
	priority(ctx, cfg.Headers)
	status := 0
	_, err := users.NewItemRevokeSignInSessionsRequestBuilder(c.userURL(user)+"/revokeSignInSessions", c.adapter).
		PostAsRevokeSignInSessionsPostResponse(withStatus(ctx, &status), cfg)
	call := callOf(inspect)
	if err != nil {
		return call, classify(err, call)
	}
	if status < 200 || status > 299 {
		return call, &revoke.Error{Kind: revoke.Other, Status: status, Call: call,
			Message: fmt.Sprintf("the revoke call answered %d, not 2xx: not counted as a revoke (a proxy at GRAPH_BASE_URL?)", status)}
	}
	// Any 2xx is success: the body's value is documented as always true, and older
	// deployments answer 204 with no body at all.
	return call, nil
}

// User reads the user's id, UPN and type. It decodes into userIdentity rather than the
// SDK's models.User: reaching models.User keeps the whole models package (6 MB of code)
// in the binary, and three strings are all this needs.
func (c *Client) User(ctx context.Context, user string) (revoke.User, revoke.Call, error) {
	inspect := headersOption()
	req := abs.NewRequestInformation()
	req.Method = abs.GET
	req.UrlTemplate = "{+request-raw-url}"
	req.PathParameters = map[string]string{"request-raw-url": c.userURL(user) + "?%24select=id,userPrincipalName,userType,signInSessionsValidFromDateTime"}
	req.Headers.TryAdd("Accept", "application/json")
	priority(ctx, req.Headers)
	req.AddRequestOptions([]abs.RequestOption{inspect})
	var u userIdentity
	_, err := c.adapter.Send(ctx, req, func(serialization.ParseNode) (serialization.Parsable, error) { return &u, nil },
		abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	call := callOf(inspect)
	if err != nil {
		return revoke.User{}, call, classify(err, call)
	}
	return revoke.User{ID: u.id, UserPrincipalName: u.upn, UserType: u.userType, SignInSessionsValidFrom: u.validFrom}, call, nil
}

// ListUsers reads one page of a sweep's listing: link is relative to the version root
// (sweep.Spec.FirstPage) or an @odata.nextLink, which must point at this Graph root, so a
// link saved in the state table can never send the token anywhere else.
func (c *Client) ListUsers(ctx context.Context, link string) (sweep.Page, error) {
	switch {
	case strings.HasPrefix(link, "/"):
		link = c.root + link
	case !strings.HasPrefix(link, c.root+"/"):
		return sweep.Page{}, &revoke.Error{Kind: revoke.BadRequest, Message: "a next-page link outside " + c.root + " was refused"}
	}
	// The body is decoded here: a page is a list of three strings per user, and kiota's
	// parse nodes would build a map per property to get them.
	raw, call, err := c.getPage(ctx, link)
	if err != nil {
		return sweep.Page{}, err
	}
	var page struct {
		Value []struct {
			ID                string `json:"id"`
			UserPrincipalName string `json:"userPrincipalName"`
			UserType          string `json:"userType"`
		} `json:"value"`
		Next string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return sweep.Page{}, &revoke.Error{Kind: revoke.Other, Call: call, Message: "the listing's page is not the JSON Graph sends: " + err.Error()}
	}
	p := sweep.Page{Next: page.Next, Users: make([]alert.Principal, len(page.Value))}
	for i, u := range page.Value {
		p.Users[i] = alert.Principal{UserID: u.ID, UserPrincipalName: u.UserPrincipalName, UserType: u.UserType}
	}
	return p, nil
}

// getPage GETs a listing's page at full, an absolute URL the caller has checked, and
// returns its body as Graph sent it. headers are added to the request (name, value, ...).
func (c *Client) getPage(ctx context.Context, full string, headers ...string) ([]byte, revoke.Call, error) {
	inspect := headersOption()
	req := abs.NewRequestInformation()
	req.Method = abs.GET
	req.UrlTemplate = "{+request-raw-url}"
	req.PathParameters = map[string]string{"request-raw-url": full}
	req.Headers.TryAdd("Accept", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Headers.TryAdd(headers[i], headers[i+1])
	}
	priority(ctx, req.Headers)
	req.AddRequestOptions([]abs.RequestOption{inspect})
	body, err := c.adapter.SendPrimitive(ctx, req, "[]byte", abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	call := callOf(inspect)
	if err != nil {
		return nil, call, classify(err, call)
	}
	raw, _ := body.([]byte)
	return raw, call, nil
}

// userIdentity is the part of a Graph user this function reads.
type userIdentity struct {
	id, upn, userType string
	validFrom         time.Time
}

func (u *userIdentity) Serialize(serialization.SerializationWriter) error { return nil }

func (u *userIdentity) GetFieldDeserializers() map[string]func(serialization.ParseNode) error {
	str := func(dst *string) func(serialization.ParseNode) error {
		return func(n serialization.ParseNode) error {
			v, err := n.GetStringValue()
			if v != nil {
				*dst = *v
			}
			return err
		}
	}
	return map[string]func(serialization.ParseNode) error{
		"id": str(&u.id), "userPrincipalName": str(&u.upn), "userType": str(&u.userType),
		"signInSessionsValidFromDateTime": func(n serialization.ParseNode) error {
			v, err := n.GetTimeValue()
			if v != nil {
				u.validFrom = *v
			}
			return err
		},
	}
}

// userURL addresses a user policy has validated (an object id or a UPN of letters,
// digits, ' . - _ ! ^ ~ $ and one @). A UPN starting with '$' would be read by Graph as
// an OData system segment in /users/$x@y, so it goes in the key form /users('$x@y').
func (c *Client) userURL(user string) string {
	if strings.HasPrefix(user, "$") {
		return c.root + "/users('" + url.PathEscape(strings.ReplaceAll(user, "'", "''")) + "')"
	}
	return c.root + "/users/" + url.PathEscape(user)
}

func headersOption() *khttp.HeadersInspectionOptions {
	o := khttp.NewHeadersInspectionOptions()
	o.InspectResponseHeaders = true
	return o
}

func callOf(o *khttp.HeadersInspectionOptions) revoke.Call {
	h := o.GetResponseHeaders()
	return revoke.Call{RequestID: first(h.Get("request-id")), ClientRequestID: first(h.Get("client-request-id")), Limit: limitOf(first(h.Get("x-ms-throttle-limit-percentage")))}
}

// priority asks Graph to throttle a sweep's calls before an alert's: Microsoft recommends
// Low for background work and keeps High for requests a person waits on.
func priority(ctx context.Context, h *abs.RequestHeaders) {
	if revoke.LowPriority(ctx) {
		h.TryAdd("x-ms-throttle-priority", "Low")
	}
}

// limitOf reads x-ms-throttle-limit-percentage: the share of the quota used, sent from 0.8.
func limitOf(v string) float64 {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 100 {
		return 0
	}
	return f
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
