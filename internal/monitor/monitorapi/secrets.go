package monitorapi

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/amp-edge/amp/internal/api/compat"
	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/monitor"
	"github.com/amp-edge/amp/internal/schema"
)

// secretRoutes set and delete an enterprise's receiver secrets, which its
// receivers name by id (slack/url-secret). A secret is never answered
// back: there is no GET.
func secretRoutes() []compat.Route {
	return []compat.Route{
		{Pattern: "PUT /monitor/secrets/{enterprise}/{id}", Name: "monitor-secrets", Handler: putSecret},
		{Pattern: "DELETE /monitor/secrets/{enterprise}/{id}", Name: "monitor-secrets", Handler: deleteSecret},
	}
}

// secretID is the secret-ref type of amp-monitor.yang.
var secretID = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

func secretPath(ent, id string) string {
	return "/monitor/secrets/" + schema.EscapeSegment(ent) + "/" + schema.EscapeSegment(id)
}

// authorizeSecret: who may write the enterprise's monitor configuration
// manages its secrets.
func authorizeSecret(h compat.Host, r *http.Request) (ent, id string, err error) {
	id = r.PathValue("id")
	if ent, err = enterprise(h, r, auth.Write, func(ent string) string { return secretPath(ent, id) }); err != nil {
		return "", "", err
	}
	if !secretID.MatchString(id) {
		return "", "", schema.Errorf(schema.KindInvalid, secretPath(ent, id), "%q is not a secret id: 1 to 63 of a-z, 0-9, '.', '_', '-', starting and ending with a letter or digit", id)
	}
	h.Touch(r, secretPath(ent, id))
	return ent, id, nil
}

func putSecret(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ent, id, err := authorizeSecret(h, r)
	if err != nil {
		return err
	}
	body, dry, err := h.ReadObject(r, `{"secret": "https://…"}`)
	if err != nil {
		return err
	}
	secret, ok := body["secret"].(string)
	if !ok || len(body) != 1 {
		return schema.Errorf(schema.KindInvalid, "/secret", `send {"secret": "…"}: the Slack-compatible webhook's URL`)
	}
	if dry {
		return schema.Errorf(schema.KindInvalid, "?dry-run", "setting a secret has nothing to preview")
	}
	if err := (monitor.Secrets{Meta: h.Engine().Meta()}).Put(ent, id, secret); err != nil {
		if errors.Is(err, monitor.ErrBadSecret) {
			return schema.Errorf(schema.KindInvalid, "/secret", "%v", err)
		}
		return err
	}
	return h.WriteJSON(w, http.StatusOK, map[string]string{"id": id, "note": "set; it is never shown again"})
}

func deleteSecret(h compat.Host, w http.ResponseWriter, r *http.Request) error {
	ent, id, err := authorizeSecret(h, r)
	if err != nil {
		return err
	}
	ok, err := (monitor.Secrets{Meta: h.Engine().Meta()}).Delete(ent, id)
	if err != nil {
		return err
	}
	if !ok {
		return schema.Errorf(schema.KindNotFound, secretPath(ent, id), "no secret %q is set", id)
	}
	return h.WriteJSON(w, http.StatusOK, map[string]string{"deleted": id})
}
