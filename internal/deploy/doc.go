// Package deploy checks template.yaml, the SAM stack operators deploy: least-privilege
// IAM, the runtime settings the function is built for, and a parameter for every setting
// the function reads. It has no code of its own, only tests, so a template change that
// widens a permission fails `make test` instead of passing review unseen.
package deploy
