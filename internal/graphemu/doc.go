// Package graphemu is a Microsoft Graph and Entra ID emulator for tests and local runs, in the
// spirit of net/http/httptest: a real TLS server on 127.0.0.1 that the real msgraph-sdk-go and
// azidentity SDKs talk to unchanged.
//
// It speaks the small part of the wire protocol this project uses: OIDC discovery and the
// client-credentials token endpoint of Entra ID, Graph's GET /users/{key} and
// POST /users/{key}/revokeSignInSessions, with Graph's error shapes, headers and addressing
// quirks (a "$" key fails in the plain segment form, the ('...') form works), and the two
// listings a sweep pages through, GET /identityProtection/riskyUsers and
// GET /groups/{id}/transitiveMembers/microsoft.graph.user (listing.go), and the two a
// scheduled poll reads, GET /security/alerts_v2 and GET /identityProtection/riskDetections
// (alerts.go), whose contents tests change at runtime (AddAlert, UpdateAlert, ...). Faults
// (throttling, outages, delays, connection resets, denied permissions) can be queued so that
// retry and error paths are exercised against the real SDK code; WithLatency adds a round
// trip's time to every answer. The throttle model of the identity limits (throttle.go) is
// off unless asked for: WithWriteQuota plays the app+tenant write window with Retry-After,
// x-ms-throttle-limit-percentage and Low priority refused first, WithIdentityProtectionLimit
// Identity Protection's one request a second without Retry-After; Throttling reads what
// they did. GenerateUsers makes directories of any size (100,000 users) for sweeps.
//
// Start one per test:
//
//	srv := graphemu.NewServer(graphemu.DefaultUsers())
//	defer srv.Close()
//
// and point the SDKs at it: Graph base URL srv.GraphRoot()+"/v1.0", authority host
// srv.AuthorityHost(), HTTP transport srv.Client(), azidentity's DisableInstanceDiscovery set
// to true (otherwise MSAL asks the real login.microsoftonline.com to validate 127.0.0.1), and
// "127.0.0.1" among the kiota auth provider's valid hosts (otherwise it silently sends no
// token). cmd/emulator runs the same server as a process for local tools.
//
// It must never be used in production or pointed at by a production configuration: it accepts
// one fixed test credential, issues opaque tokens that prove nothing, keeps its directory in
// memory, and revoking a session in it revokes nothing anywhere.
package graphemu
