package graph

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Cloud is one Microsoft cloud's Graph root, login authority and app-only scope.
type Cloud struct {
	GraphRoot string
	Authority string
	Scope     string
}

// Clouds are the national clouds by GRAPH_CLOUD name. GCC (not High) uses global.
var Clouds = map[string]Cloud{
	"global":   {GraphRoot: "https://graph.microsoft.com", Authority: "https://login.microsoftonline.com/", Scope: "https://graph.microsoft.com/.default"},
	"usgov":    {GraphRoot: "https://graph.microsoft.us", Authority: "https://login.microsoftonline.us/", Scope: "https://graph.microsoft.us/.default"},
	"usgovdod": {GraphRoot: "https://dod-graph.microsoft.us", Authority: "https://login.microsoftonline.us/", Scope: "https://dod-graph.microsoft.us/.default"},
	"china":    {GraphRoot: "https://microsoftgraph.chinacloudapi.cn", Authority: "https://login.chinacloudapi.cn/", Scope: "https://microsoftgraph.chinacloudapi.cn/.default"},
}

// Config says where Graph and its token authority are.
type Config struct {
	Cloud string // a key of Clouds; "" means global
	// GraphRoot overrides the cloud's Graph root (GRAPH_BASE_URL), for the emulator or a
	// proxy. The scope stays the cloud's: tokens are still for Graph.
	GraphRoot string
	// AuthorityHost overrides the cloud's login authority (AZURE_AUTHORITY_HOST).
	AuthorityHost string
}

// endpoints is a Config checked and resolved.
type endpoints struct {
	root      string // no trailing slash, no version
	host      string // for the auth provider's valid hosts: a host name, no port
	authority string
	scope     string
	custom    bool // an authority that is not Microsoft's: skip instance discovery
}

func (c Config) resolve() (endpoints, error) {
	name := strings.ToLower(strings.TrimSpace(c.Cloud))
	if name == "" {
		name = "global"
	}
	cloud, ok := Clouds[name]
	if !ok {
		names := make([]string, 0, len(Clouds))
		for n := range Clouds {
			names = append(names, n)
		}
		sort.Strings(names)
		return endpoints{}, fmt.Errorf("GRAPH_CLOUD %q is not one of %s", c.Cloud, strings.Join(names, ", "))
	}
	e := endpoints{root: cloud.GraphRoot, authority: cloud.Authority, scope: cloud.Scope}
	if c.GraphRoot != "" {
		root := strings.TrimSuffix(strings.TrimSuffix(c.GraphRoot, "/"), "/v1.0")
		if err := checkHTTPS("GRAPH_BASE_URL", root); err != nil {
			return endpoints{}, err
		}
		e.root = root
	}
	if c.AuthorityHost != "" {
		if err := checkHTTPS("AZURE_AUTHORITY_HOST", c.AuthorityHost); err != nil {
			return endpoints{}, err
		}
		e.authority = strings.TrimSuffix(c.AuthorityHost, "/") + "/"
		e.custom = true
	}
	u, _ := url.Parse(e.root)
	e.host = u.Hostname()
	return e, nil
}

func checkHTTPS(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s must be an https URL with a host and no query", name)
	}
	return nil
}

// Check validates a Config without building anything, for reading configuration at
// cold start.
func Check(c Config) (Cloud, error) {
	e, err := c.resolve()
	return Cloud{GraphRoot: e.root, Authority: e.authority, Scope: e.scope}, err
}
