module purelb-ts/lab/images/echo

go 1.22
