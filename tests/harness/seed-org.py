"""Creates the demo organization in moto: the organization itself and the OUs the
examples use. Idempotent. Runs with the Python of moto's venv (boto3 comes with moto)."""

import boto3

OUS = ["Workloads", "Workloads/Payroll", "Workloads/Billing", "Sandbox"]


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


if __name__ == "__main__":
    main()
