// Package gitsource reads the fleet set's config repos with go-git,
// webhook first (docs/lifecycle.md, "Git sources and webhooks"): a push
// signed with the repo's webhook secret (GitHub, GitLab, Gitea/Gogs)
// fetches the pushed branch at once, and the revision fetched, or the
// reason it could not be, is recorded in the repo's operational state.
// The repos' secrets (webhook secrets, credentials) are kept here too, in
// the store's metadata, never in the configuration.
package gitsource
