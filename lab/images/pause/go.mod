module purelb-ts/lab/images/pause

go 1.22
