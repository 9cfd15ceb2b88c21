// Package state is the DynamoDB table behind the function's two guardrails:
//
//   - a suppression window, so a user this function revoked a few minutes ago (a VPN or
//     travelling user who signs in again and re-triggers impossible travel) is reported
//     suppressed instead of being revoked in a loop;
//   - idempotency, so an alert delivered twice (EventBridge and SQS deliver at least once,
//     Lambda retries failed async invocations) is handled once and the redelivery gets the
//     stored result back.
//
// Every decision is one conditional write, so two concurrent invocations can never both
// win; nothing here reads first and writes after.
//
// # Table
//
// One table (STATE_TABLE, defined by the SAM template): partition key pk (String), no sort
// key, on-demand capacity, TTL on expiresAt. Times are epoch milliseconds (Number) so that
// conditions compare them as numbers; expiresAt is epoch seconds, DynamoDB's TTL format.
//
//	user#<object id or UPN, lowercased>
//	    revokedAt  N  epoch ms: when this function claimed the user to revoke them
//	    alertId    S  the alert that caused it (absent when unknown)
//	    expiresAt  N  epoch s: revokedAt + window + 5 min
//
//	alert#<delivery key: EventBridge id, SQS messageId or alert id>
//	    status     S  "claimed" (being handled) or "done"
//	    claimedAt  N  epoch ms: when the current owner claimed it
//	    doneAt     N  epoch ms, when done
//	    result     B  the result, when done (absent when empty)
//	    truncated  BOOL  true when result is the marker below instead of the real result
//	    expiresAt  N  epoch s: claimedAt + lease + 1 h while claimed; doneAt + ttl when done
//
//	sweep#<sweep name>
//	    next        S  the Graph link the sweep continues at (absent before its first page)
//	    leaseUntil  N  epoch ms: a run holds the sweep until then (absent when none does)
//	    savedAt     N  epoch ms: when next was saved
//	    expiresAt   N  epoch s: savedAt + 7 days; deleted when the sweep completes
//
// A key longer than 512 bytes (or not valid UTF-8) is replaced by "sha256:" and its
// SHA-256 in hex, so no key comes near DynamoDB's 2048-byte limit.
//
// DynamoDB deletes expired items lazily (often hours late), so the conditions never rely on
// the deletion: an alert item whose expiresAt has passed counts as absent, and a user item
// is judged by revokedAt alone.
//
// A result larger than [MaxResultBytes] (items are capped at 400 KB) is stored as a marker,
// a JSON object {"truncated": true, "bytes": <original size>, "sha256": "<hex>", "reason":
// "..."}, which is what a redelivery then gets back.
//
// The function's role needs dynamodb:PutItem, dynamodb:GetItem, dynamodb:UpdateItem and
// dynamodb:DeleteItem on the table. The package must never put a stored value (a result, an alert id) in an
// error; errors name the operation, the table and the item's key.
package state
