package controller

import "os"

func isRoot() bool { return os.Geteuid() == 0 }
