"""Transforms a SAM template into the CloudFormation that AWS deploys, offline.

usage: python3 sam_transform.py TEMPLATE < parameter-sets.json > transformed.json

stdin is a JSON list of parameter-value maps (with the pseudo parameters AWS::Region,
AWS::AccountId, AWS::Partition); stdout is a JSON list of transformed templates, one per
map. CloudFormation hands the SAM transform the stack's parameter values, so each set is
transformed on its own. This is the translator cfn-lint runs, with the managed-policy map
cfn-lint ships (the names SAM attaches by ARN), so no AWS call is made.
"""

import copy
import json
import sys

from cfnlint.data import Serverless
from cfnlint.decode import cfn_yaml
from cfnlint.helpers import load_resource
from samtranslator.parser import parser
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.translator import Translator


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        # cfn-lint's loader turns !Ref, !Sub... into their long forms; the JSON round trip
        # drops its node types so the translator sees plain dicts and lists.
        template = json.loads(json.dumps(cfn_yaml.loads(f.read(), sys.argv[1])))
    # sam deploy uploads the built code first and points CodeUri at the upload.
    for res in template.get("Resources", {}).values():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and not str(props.get("CodeUri", "")).startswith("s3://"):
            props["CodeUri"] = "s3://sam-artifacts/" + "code.zip"
    managed = load_resource(Serverless, "ManagedPolicies.json")
    out = []
    for params in json.load(sys.stdin):
        translator = Translator(managed_policy_map=managed, sam_parser=parser.Parser())
        try:
            out.append(translator.translate(copy.deepcopy(template), parameter_values=params, passthrough_metadata=True))
        except InvalidDocumentException as e:
            print("SAM transform failed: " + "; ".join(c.message for c in e.causes), file=sys.stderr)
            return 1
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
