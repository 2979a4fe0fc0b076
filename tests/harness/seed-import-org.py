"""Creates, in moto, an organization of its own for the import test: its management
account is the one given (moto acts as any account whose role is assumed), so the import
reads this organization alone, whatever the other tests create meanwhile.

It holds 21 member accounts in nested OUs (Workloads/<Team>/Dev under three teams,
Sandbox, the root), tags and alternate contacts, Identity Store groups and a user, five
permission sets with policies and assignments, and a parent zone with three subdomains
delegated to zones in team accounts (and one NS record pointing nowhere).

Prints JSON: the management account's credentials and what was made. Runs with the
Python of moto's venv (boto3 comes with moto).

    seed-import-org.py <12-digit management account id>
"""

import json
import sys

import boto3

PARENT = "example.org"


def session_as(base: boto3.Session, account: str, role: str) -> boto3.Session:
    creds = base.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="seed")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=base.region_name,
    )


def main() -> None:
    management = sys.argv[1]
    suffix = management[-4:]
    base = boto3.Session()
    admin = session_as(base, management, "import-seed")
    org = admin.client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]

    ous = {"": root}
    teams = [f"Alpha{suffix}", f"Beta{suffix}", f"Gamma{suffix}"]
    paths = ["Workloads", "Sandbox"] + [f"Workloads/{t}" for t in teams] + [f"Workloads/{t}/Dev" for t in teams[:2]]
    for path in paths:
        parent, _, name = path.rpartition("/")
        ous[path] = org.create_organizational_unit(ParentId=ous[parent], Name=name)["OrganizationalUnit"]["Id"]

    placement = (
        [(f"Workloads/{teams[0]}", f"alpha-prod-{i}") for i in range(3)]
        + [(f"Workloads/{teams[0]}/Dev", f"alpha-dev-{i}") for i in range(3)]
        + [(f"Workloads/{teams[1]}", f"beta-prod-{i}") for i in range(3)]
        + [(f"Workloads/{teams[1]}/Dev", f"beta-dev-{i}") for i in range(3)]
        + [(f"Workloads/{teams[2]}", f"gamma-{i}") for i in range(5)]
        + [("Sandbox", f"sandbox-{i}") for i in range(2)]
        + [("", f"legacy-{i}") for i in range(2)]
    )
    accounts = {}
    for path, name in placement:
        tags = [{"Key": "cost-center", "Value": f"cc-{name.split('-')[0]}"}]
        if name.endswith("-0"):
            tags.append({"Key": "owner-email", "Value": f"{name}@example.com"})
        status = org.create_account(AccountName=name, Email=f"{name}.{management}@example.com", Tags=tags)
        account = status["CreateAccountStatus"]["AccountId"]
        if path:
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[path])
        accounts[name] = account

    contacts = admin.client("account")
    for name in ["alpha-prod-0", "beta-prod-0", "gamma-0"]:
        contacts.put_alternate_contact(
            AccountId=accounts[name],
            AlternateContactType="SECURITY",
            Name=f"{name} security",
            Title="Security lead",
            EmailAddress=f"security+{name}@example.com",
            PhoneNumber="+1 555 0100",
        )
    # The management account's own contact: AWS answers for it without an AccountId.
    contacts.put_alternate_contact(
        AlternateContactType="BILLING",
        Name="Finance",
        Title="Billing lead",
        EmailAddress=f"billing.{management}@example.com",
        PhoneNumber="+1 555 0199",
    )

    sso = admin.client("sso-admin")
    instance = sso.list_instances()["Instances"][0]
    arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
    store = admin.client("identitystore")
    groups = {
        name: store.create_group(IdentityStoreId=store_id, DisplayName=name)["GroupId"]
        for name in ["alpha-developers", "beta-developers", "auditors"]
    }
    user = store.create_user(
        IdentityStoreId=store_id,
        UserName="jdoe",
        DisplayName="Jane Doe",
        Name={"GivenName": "Jane", "FamilyName": "Doe"},
    )["UserId"]

    def permission_set(name, assigned, principal_type, principal, managed=(), **extra):
        kwargs = {k: v for k, v in extra.items() if k in ("Description", "SessionDuration", "RelayState", "Tags")}
        ps = sso.create_permission_set(InstanceArn=arn, Name=name, **kwargs)["PermissionSet"]["PermissionSetArn"]
        for policy in managed:
            sso.attach_managed_policy_to_permission_set(
                InstanceArn=arn, PermissionSetArn=ps, ManagedPolicyArn=f"arn:aws:iam::aws:policy/{policy}"
            )
        if "Inline" in extra:
            sso.put_inline_policy_to_permission_set(
                InstanceArn=arn, PermissionSetArn=ps, InlinePolicy=json.dumps(extra["Inline"])
            )
        if "Customer" in extra:
            sso.attach_customer_managed_policy_reference_to_permission_set(
                InstanceArn=arn, PermissionSetArn=ps, CustomerManagedPolicyReference=extra["Customer"]
            )
        for account in assigned:
            sso.create_account_assignment(
                InstanceArn=arn,
                TargetId=account,
                TargetType="AWS_ACCOUNT",
                PermissionSetArn=ps,
                PrincipalType=principal_type,
                PrincipalId=principal,
            )
        return ps

    team_accounts = lambda prefix: [a for n, a in accounts.items() if n.startswith(prefix)]  # noqa: E731
    permission_set(
        "AlphaDeveloper", team_accounts("alpha"), "GROUP", groups["alpha-developers"], ["PowerUserAccess"],
        SessionDuration="PT4H",
    )
    permission_set(
        "BetaDeveloper", team_accounts("beta"), "GROUP", groups["beta-developers"], ["ReadOnlyAccess"],
        Description="Beta team developers",
        Inline={"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]},
    )
    permission_set(
        "GammaOperator", team_accounts("gamma")[:2], "USER", user,
        Customer={"Name": "gamma-operations", "Path": "/teams/"},
        Tags=[{"Key": "team", "Value": "gamma"}],
    )
    permission_set(
        "Auditor", [accounts["alpha-prod-0"], accounts["beta-prod-0"], accounts["gamma-0"]], "GROUP",
        groups["auditors"], ["SecurityAudit"],
    )
    permission_set("BreakGlass", [management], "GROUP", groups["auditors"], ["AdministratorAccess"])

    route53 = admin.client("route53")
    parent = route53.create_hosted_zone(Name=PARENT, CallerReference=f"parent-{management}")["HostedZone"]["Id"]
    delegated = {}
    for domain, owner, ttl in [
        (f"alpha.{PARENT}", "alpha-prod-0", 300),
        (f"beta.{PARENT}", "beta-prod-1", 600),
        (f"api.gamma.{PARENT}", "gamma-2", 3600),
    ]:
        member = session_as(admin, accounts[owner], "OrganizationAccountAccessRole").client("route53")
        zone = member.create_hosted_zone(Name=domain, CallerReference=f"{domain}-{management}")
        servers = zone["DelegationSet"]["NameServers"]
        delegated[domain] = {"account": accounts[owner], "zone": zone["HostedZone"]["Id"].split("/")[-1]}
        change = {"Name": domain, "Type": "NS", "TTL": ttl, "ResourceRecords": [{"Value": s} for s in servers]}
        route53.change_resource_record_sets(
            HostedZoneId=parent, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": change}]}
        )
    stray = {"Name": f"old.{PARENT}", "Type": "NS", "TTL": 300, "ResourceRecords": [{"Value": "ns-1.gone.example"}]}
    route53.change_resource_record_sets(
        HostedZoneId=parent, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": stray}]}
    )

    creds = admin.get_credentials()
    print(
        json.dumps(
            {
                "credentials": {
                    "AWS_ACCESS_KEY_ID": creds.access_key,
                    "AWS_SECRET_ACCESS_KEY": creds.secret_key,
                    "AWS_SESSION_TOKEN": creds.token,
                },
                "management": management,
                "teams": teams,
                "accounts": accounts,
                "groups": groups,
                "delegated": delegated,
                "parent": PARENT,
            }
        )
    )


if __name__ == "__main__":
    main()
