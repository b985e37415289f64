output "instances" {
  description = "name, ipv6, ipv6_prefix and id of every VM of the pool."
  value = concat(
    flatten(module.aws[*].instances),
    flatten(module.gcp[*].instances),
    flatten(module.vultr[*].instances),
  )
}
