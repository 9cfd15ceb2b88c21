// Package deploy checks the stack operators deploy as AWS will build and run it, not as
// template.yaml reads: the template through the SAM transform (the translator itself),
// rendered for sets of parameter values; its IAM enforced in moto on the real bootstrap
// under the Lambda Runtime Interface Emulator; its rules matched by EventBridge's own
// semantics against every fixture in events/. It has no code of its own, only tests, so
// a change that widens a permission, misroutes a source or drops a dead letter fails
// `make test` instead of passing review unseen.
//
// Its Python pieces (testdata/) are small on purpose: the SAM transform, and a moto
// launcher whose every correction of moto is commented and proven not to let a wrong
// policy pass. Nothing here may call AWS: every endpoint is on 127.0.0.1.
package deploy
