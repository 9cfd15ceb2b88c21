// Package sources is the one list of how alerts reach the function on EventBridge: for
// each product, the detail-type (or source) an EventBridge event must carry, the
// template rule meant to deliver it, and the alert format that reads it. The template,
// the fixtures in events/, the README's source table and the webhook endpoint must all
// agree with it; the tests in internal/deploy hold them to it.
//
// It is plain data and imports nothing of the project.
package sources

// Source is one way alerts arrive on an EventBridge bus.
type Source struct {
	// Name is a short, stable name: the webhook path segment and the fixture's stem.
	Name string
	// DetailType is the detail-type a relay or the webhook endpoint puts on the alert bus;
	// empty for sources recognised by their EventBridge source instead.
	DetailType string
	// SourcePrefix is the EventBridge source (a prefix ends in "/") for partner and AWS
	// sources, which the product itself writes; empty for detail-type sources.
	SourcePrefix string
	// Rule is the logical id, in the SAM-transformed template, of the rule meant to deliver
	// it (SAM names a function's EventBridgeRule event <Function><Event>).
	Rule string
	// Formats are the alert formats that read what it carries.
	Formats []string
}

// WebhookSource is the EventBridge source of every event the webhook endpoint puts on the
// alert bus. Custom sources may not start with "aws.".
const WebhookSource = "session-revoker.webhook"

// RequestDetailType is the project's own direct-request detail-type: the only EventBridge
// shape a direct request ({"userId": ...}) is read from.
const RequestDetailType = "Session Revocation Requested"

// All lists every source, in the README's order.
var All = []Source{
	{Name: "graph-security-alert", DetailType: "Microsoft Graph Security Alert", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"graph-security-alert"}},
	{Name: "graph-security-incident", DetailType: "Microsoft Graph Security Incident", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"graph-security-incident"}},
	{Name: "entra-risk-detection", DetailType: "Entra ID Risk Detection", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"entra-risk-detection"}},
	{Name: "entra-risky-user", DetailType: "Entra ID Risky User", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"entra-risky-user"}},
	{Name: "sentinel-alert", DetailType: "Microsoft Sentinel Alert", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"sentinel-security-alert"}},
	{Name: "sentinel-incident", DetailType: "Microsoft Sentinel Incident", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"sentinel-entities"}},
	{Name: "splunk", DetailType: "Splunk Alert", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"splunk-webhook"}},
	{Name: "elastic", DetailType: "Elastic Security Alert", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"elastic-security"}},
	{Name: "crowdstrike", DetailType: "CrowdStrike Identity Detection", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"crowdstrike-identity"}},
	{Name: "sumologic", DetailType: "Sumo Logic Insight", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"sumo-cloud-siem-insight"}},
	{Name: "google-secops", DetailType: "Google SecOps Detection", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"chronicle-detection"}},
	{Name: "ocsf-detection-finding", DetailType: "OCSF Detection Finding", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"ocsf-detection-finding"}},
	{Name: "ocsf-authentication", DetailType: "OCSF Authentication", Rule: "RevokeFunctionRiskAlerts", Formats: []string{"ocsf-authentication"}},
	{Name: "request", DetailType: RequestDetailType, Rule: "RevokeFunctionRiskAlerts", Formats: []string{"direct"}},
	{Name: "datadog", SourcePrefix: "aws.partner/datadog.com/", Rule: "DatadogRule", Formats: []string{"datadog"}},
	{Name: "okta", SourcePrefix: "aws.partner/okta.com/", Rule: "OktaRule", Formats: []string{"okta-system-log"}},
	{Name: "securityhub", SourcePrefix: "aws.securityhub", DetailType: "Findings Imported V2", Rule: "SecurityHubRule", Formats: []string{"securityhub-v2"}},
}

// ByName returns the source named name.
func ByName(name string) (Source, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// DetailTypes lists the detail-types of the alert bus's main rule, in order.
func DetailTypes(rule string) []string {
	var out []string
	for _, s := range All {
		if s.Rule == rule && s.SourcePrefix == "" {
			out = append(out, s.DetailType)
		}
	}
	return out
}
