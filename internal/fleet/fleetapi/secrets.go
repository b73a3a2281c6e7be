package fleetapi

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/fleet/gitsource"
	"github.com/amp-edge/amp/internal/schema"
)

// secretRoutes set and delete the repos' secrets, which the configuration
// names by id (git-repo webhook-secret, credentials). A secret is never
// answered back: there is no GET.
func secretRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "PUT /fleet/secrets/{id}", Name: "fleet-secrets", Handler: putSecret},
		{Pattern: "DELETE /fleet/secrets/{id}", Name: "fleet-secrets", Handler: deleteSecret},
	}
}

// secretID is the secret-ref type of amp-fleet.yang.
var secretID = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

// secretPath names a secret in the audit trail and in errors.
func secretPath(id string) string { return "/fleet/secrets/" + schema.EscapeSegment(id) }

// authorizeSecret asks the policy for a write of the fleet set's root:
// whoever may write the fleet configuration (operators) manages its
// secrets.
func authorizeSecret(h compat.Host, r *http.Request) (string, error) {
	fs := set(h)
	if err := h.Authorize(r, auth.Write, schema.RESTBase(fs)); err != nil {
		return "", err
	}
	id := r.PathValue("id")
	if !secretID.MatchString(id) {
		return "", schema.Errorf(schema.KindInvalid, secretPath(id), "%q is not a secret id: 1 to 63 of a-z, 0-9, '.', '_', '-', starting and ending with a letter or digit", id)
	}
	h.Touch(r, secretPath(id))
	return id, nil
}

func putSecret(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, err := authorizeSecret(h, r)
	if err != nil {
		return err
	}
	body, dry, err := h.ReadObject(r, `{"secret": "…"}`)
	if err != nil {
		return err
	}
	secret, ok := body["secret"].(string)
	if !ok || len(body) != 1 {
		return schema.Errorf(schema.KindInvalid, "/secret", `send {"secret": "…"}: the webhook secret or the credentials ("user:password" or a token)`)
	}
	if dry {
		return schema.Errorf(schema.KindInvalid, "?dry-run", "setting a secret has nothing to preview")
	}
	if err := (gitsource.Secrets{Meta: h.Engine().Meta()}).Put(id, secret); err != nil {
		if errors.Is(err, gitsource.ErrBadSecret) {
			return schema.Errorf(schema.KindInvalid, "/secret", "%v", err)
		}
		return err
	}
	return h.WriteJSON(w, http.StatusOK, map[string]string{"id": id, "note": "set; it is never shown again"})
}

func deleteSecret(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	id, err := authorizeSecret(h, r)
	if err != nil {
		return err
	}
	ok, err := (gitsource.Secrets{Meta: h.Engine().Meta()}).Delete(id)
	if err != nil {
		return err
	}
	if !ok {
		return schema.Errorf(schema.KindNotFound, secretPath(id), "no secret %q is set", id)
	}
	return h.WriteJSON(w, http.StatusOK, map[string]string{"deleted": id})
}
