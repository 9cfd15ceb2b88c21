package deploy

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRender: the renderer resolves what CloudFormation resolves and refuses what it
// cannot, so a check never passes on an unresolved value.
func TestRender(t *testing.T) {
	tpl := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	const base = `"Parameters": {"Bus": {"Type": "String", "Default": "default"}, "Sources": {"Type": "CommaDelimitedList", "Default": ""}, "Mode": {"Type": "String", "Default": "a", "AllowedValues": ["a", "b"]}},
		"Conditions": {"IsB": {"Fn::Equals": [{"Ref": "Mode"}, "b"]}, "NotB": {"Fn::Not": [{"Condition": "IsB"}]}, "HasSources": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Sources"}]}, ""]}]}}`
	st, err := render(tpl(`{`+base+`, "Resources": {
		"Q": {"Type": "AWS::SQS::Queue", "Properties": {}},
		"R": {"Type": "AWS::Events::Rule", "Condition": "NotB", "Properties": {"EventBusName": "alerts", "Targets": [{"Arn": {"Fn::GetAtt": ["Q", "Arn"]}, "Id": {"Fn::If": ["IsB", "b", {"Ref": "AWS::NoValue"}]}}],
			"Description": {"Fn::Sub": ["${Q.QueueName} on ${AWS::Region} ${!Literal} ${X}", {"X": {"Fn::Select": [1, {"Fn::Split": [",", "p,q"]}]}}]}}},
		"B": {"Type": "AWS::SQS::Queue", "Condition": "IsB", "Properties": {}},
		"S": {"Type": "AWS::SQS::Queue", "Condition": "HasSources", "Properties": {}}}}`), params{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Resources["B"]; ok {
		t.Error("a resource whose condition is false was deployed")
	}
	if _, ok := st.Resources["S"]; ok {
		t.Error("an empty CommaDelimitedList counted as set")
	}
	rule := st.Resources["R"]
	q := st.Resources["Q"].Name
	if got := str(rule.Properties, "Description"); got != q+" on us-east-1 ${Literal} q" {
		t.Errorf("Fn::Sub: %q", got)
	}
	target := rule.Properties["Targets"].([]any)[0]
	if got := str(target, "Arn"); got != "arn:aws:sqs:us-east-1:123456789012:"+q {
		t.Errorf("GetAtt Arn: %q", got)
	}
	if _, ok := target.(map[string]any)["Id"]; ok {
		t.Error("AWS::NoValue left its key")
	}

	for name, bad := range map[string]struct {
		tpl string
		p   params
	}{
		"unknown intrinsic":              {`{` + base + `, "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Fn::Base64": "x"}}}}}`, params{}},
		"unknown attribute":              {`{` + base + `, "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {}}, "P": {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Fn::GetAtt": ["Q", "Nope"]}}}}}`, params{}},
		"ref to a resource not deployed": {`{` + base + `, "Resources": {"B": {"Type": "AWS::SQS::Queue", "Condition": "IsB", "Properties": {}}, "P": {"Type": "AWS::SQS::Queue", "Properties": {"X": {"Ref": "B"}}}}}`, params{}},
		"undeclared parameter":           {`{` + base + `, "Resources": {}}`, params{"Nope": "x"}},
		"value not allowed":              {`{` + base + `, "Resources": {}}`, params{"Mode": "c"}},
	} {
		if _, err := render(tpl(bad.tpl), bad.p); err == nil {
			t.Errorf("%s: rendered", name)
		} else if strings.Contains(err.Error(), "panic") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
