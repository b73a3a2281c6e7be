package wire

// KindLogLevel is the kind of the objects that set the log level of one
// component of the agent (named by the object's name) at run time; Spec
// is a LogLevelSpec. Removing the object makes the component follow the
// agent's --log-level again.
const KindLogLevel = "log-level"

// LogLevelSpec is a component's level: debug, info, warn or error.
type LogLevelSpec struct {
	Level string `json:"level"`
}
