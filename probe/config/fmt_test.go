package config

import "fmt"

func fmtAny(v any) string { return fmt.Sprintf("%v %+v %s", v, v, v) }
