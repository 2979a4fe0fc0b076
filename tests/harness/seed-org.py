"""Creates the demo organization in moto: the organization itself, the OUs, the
Identity Store groups and the parent DNS zone (example.com, in the management account)
the examples use. Idempotent. Runs with the Python of moto's venv (boto3 comes with
moto)."""

import boto3

OUS = ["Workloads", "Workloads/Payroll", "Workloads/Billing", "Sandbox"]
GROUPS = ["payroll-developers", "payroll-oncall"]
PARENT_ZONE = "example.com"


def main() -> None:
    org = boto3.client("organizations")
    try:
        org.describe_organization()
    except org.exceptions.AWSOrganizationsNotInUseException:
        org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ids = {"": root}
    for path in OUS:
        parent_path, _, name = path.rpartition("/")
        parent = ids[parent_path]
        existing = {
            ou["Name"]: ou["Id"]
            for ou in org.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]
        }
        ids[path] = existing.get(name) or org.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]
    for path in OUS:
        print(f"{path}: {ids[path]}")

    store_id = boto3.client("sso-admin").list_instances()["Instances"][0]["IdentityStoreId"]
    store = boto3.client("identitystore")
    for name in GROUPS:
        try:
            group = store.create_group(IdentityStoreId=store_id, DisplayName=name)["GroupId"]
        except store.exceptions.ConflictException:
            group = store.get_group_id(
                IdentityStoreId=store_id,
                AlternateIdentifier={"UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": name}},
            )["GroupId"]
        print(f"group {name}: {group}")

    route53 = boto3.client("route53")
    zones = [z for z in route53.list_hosted_zones()["HostedZones"] if z["Name"] == PARENT_ZONE + "."]
    zone = zones[0]["Id"] if zones else route53.create_hosted_zone(Name=PARENT_ZONE, CallerReference="seed-" + PARENT_ZONE)["HostedZone"]["Id"]
    print(f"zone {PARENT_ZONE}: {zone.split('/')[-1]}")


if __name__ == "__main__":
    main()
