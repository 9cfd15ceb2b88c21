package poll

import (
	"slices"
	"strings"

	"github.com/session-revoker/session-revoker/internal/delivery"
)

// Facts are what the rules look at in one listed item, read from its top level. Only one
// source's fields are set.
type Facts struct {
	ID         string
	LastUpdate string // lastUpdateDateTime (alerts) or lastUpdatedDateTime (risk detections)

	Title, ServiceSource, DetectionSource, Category, Severity, Status string // alerts_v2

	RiskEventType, RiskLevel, RiskState, DetectionTimingType string // riskDetections
}

// FactsOf reads an item of src's listing.
func FactsOf(src Source, top delivery.Object) Facts {
	f := Facts{ID: top.String("id"), LastUpdate: top.String(src.updatedField())}
	if src == RiskDetections {
		f.RiskEventType, f.RiskLevel = top.String("riskEventType"), top.String("riskLevel")
		f.RiskState, f.DetectionTimingType = top.String("riskState"), top.String("detectionTimingType")
		return f
	}
	f.Title, f.Severity, f.Status = strings.TrimSpace(top.String("title")), top.String("severity"), top.String("status")
	f.ServiceSource, f.DetectionSource, f.Category = top.String("serviceSource"), top.String("detectionSource"), top.String("category")
	return f
}

// Match returns the name of the first of the poll's rules for src that the item meets.
func (s Spec) Match(src Source, f Facts) (rule string, ok bool) {
	if src == RiskDetections {
		for _, r := range s.RiskRules {
			if r.matches(f) {
				return r.Name, true
			}
		}
		return "", false
	}
	for _, r := range s.AlertRules {
		if r.matches(f) {
			return r.Name, true
		}
	}
	return "", false
}

func (r AlertRule) matches(f Facts) bool {
	return oneOf(r.Titles, f.Title, titleMatches) &&
		oneOf(r.ServiceSources, f.ServiceSource, strings.EqualFold) &&
		oneOf(r.DetectionSources, f.DetectionSource, strings.EqualFold) &&
		oneOf(r.Categories, f.Category, strings.EqualFold) &&
		oneOf(r.Severities, f.Severity, strings.EqualFold) &&
		oneOf(r.Statuses, f.Status, strings.EqualFold)
}

func (r RiskRule) matches(f Facts) bool {
	return oneOf(r.RiskEventTypes, f.RiskEventType, strings.EqualFold) &&
		oneOf(r.RiskLevels, f.RiskLevel, strings.EqualFold) &&
		oneOf(r.DetectionTimingTypes, f.DetectionTimingType, strings.EqualFold) &&
		oneOf(r.RiskStates, f.RiskState, strings.EqualFold)
}

// oneOf: a field the rule leaves empty matches everything; otherwise one of its values must
// match. An item lacking the field never meets a rule that names values for it.
func oneOf(want []string, got string, eq func(want, got string) bool) bool {
	if len(want) == 0 {
		return true
	}
	return got != "" && slices.ContainsFunc(want, func(w string) bool { return eq(w, got) })
}

// titleMatches compares a rule's title with an alert's, without regard to case; a rule
// title ending in '*' is a prefix.
func titleMatches(want, got string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(strings.ToLower(got), strings.ToLower(p))
	}
	return strings.EqualFold(want, got)
}
