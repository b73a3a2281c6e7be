package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/amp-edge/amp/internal/edge/wire"
)

// ClusterStep is one step of a cluster's plan.
type ClusterStep struct {
	Action string `json:"action"` // create, add, change, remove
	Object string `json:"object"` // cluster, distribution, kubernetes-version, cni, label, node
	Name   string `json:"name,omitempty"`
	From   any    `json:"from,omitempty"`
	To     any    `json:"to,omitempty"`
}

// ClusterRegistration is a cluster agent's registration as recorded.
type ClusterRegistration struct {
	RegisteredAt string `json:"registered-at"`
	TokenID      string `json:"token-id"`
	MintedBy     string `json:"minted-by"`
	Source       string `json:"source"`
}

// ClusterPlan compares a cluster's declaration with what it reports.
type ClusterPlan struct {
	Cluster      string               `json:"cluster"`
	Index        uint64               `json:"index"`
	Reported     bool                 `json:"reported"`
	ReportedAt   string               `json:"reported-at,omitempty"`
	Registration *ClusterRegistration `json:"registration"`
	Steps        []ClusterStep        `json:"steps"`
	Summary      map[string]int       `json:"summary"`
}

// ClusterToken is a registration token's record; Token (the secret) is
// set only in the answer that minted it.
type ClusterToken struct {
	ID       string    `json:"id"`
	Cluster  string    `json:"cluster"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	MintedBy string    `json:"minted-by"`
	Expired  bool      `json:"expired"`
	Token    string    `json:"token,omitempty"`
}

func clusterPath(name string, rest string) string {
	return "/clusters/" + url.PathEscape(name) + rest
}

// ClusterPlan reads GET /clusters/{name}/plan.
func (c *Client) ClusterPlan(ctx context.Context, name string) (*ClusterPlan, error) {
	var p ClusterPlan
	if err := c.getJSON(ctx, clusterPath(name, "/plan"), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// MintClusterToken mints a registration token for the cluster's agent,
// valid for ttl (0: the server's default, an hour).
func (c *Client) MintClusterToken(ctx context.Context, name string, ttl time.Duration) (*ClusterToken, error) {
	body := map[string]string{}
	if ttl > 0 {
		body["ttl"] = ttl.String()
	}
	return doJSON[ClusterToken](ctx, c, http.MethodPost, clusterPath(name, "/tokens"), body)
}

// ClusterTokens lists the cluster's unused registration tokens.
func (c *Client) ClusterTokens(ctx context.Context, name string) ([]ClusterToken, error) {
	var out []ClusterToken
	if err := c.getJSON(ctx, clusterPath(name, "/tokens"), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeClusterToken revokes one of the cluster's registration tokens.
func (c *Client) RevokeClusterToken(ctx context.Context, name, id string) error {
	_, _, err := c.Do(ctx, http.MethodDelete, clusterPath(name, "/tokens/"+url.PathEscape(id)), nil, nil, "")
	return err
}

// RegisterCluster enrols a cluster's agent as the agent does (POST
// /clusters/register): the registration token and a CSR for the key the
// agent keeps (AMP signs a client certificate for the token's cluster).
// It needs no API token: a client made with none sends no Authorization
// header.
func (c *Client) RegisterCluster(ctx context.Context, req wire.RegisterRequest) (*wire.Credentials, error) {
	return doJSON[wire.Credentials](ctx, c, http.MethodPost, "/clusters/register", req)
}

// ClusterRevoked is the answer of a revocation.
type ClusterRevoked struct {
	Cluster string `json:"cluster"`
	Revoked int    `json:"revoked"` // certificates that stopped working
}

// RevokeCluster revokes every certificate of the cluster's agent (POST
// /clusters/{name}/revoke): they stop working at once.
func (c *Client) RevokeCluster(ctx context.Context, name string) (*ClusterRevoked, error) {
	return doJSON[ClusterRevoked](ctx, c, http.MethodPost, clusterPath(name, "/revoke"), map[string]any{})
}

func doJSON[T any](ctx context.Context, c *Client, method, path string, body any) (*T, error) {
	data, _, err := c.Do(ctx, method, path, nil, body, "application/json")
	if err != nil {
		return nil, err
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("decode the answer of %s %s: %w", method, path, err)
	}
	return &out, nil
}
