module github.com/k8s1m/k8s1m/proto

go 1.26.0
