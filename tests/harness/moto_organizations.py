"""AWS Organizations as AWS documents it, where moto 5.2.5 gets a call wrong. Loaded into
moto_server by moto_server.py for the end-to-end tests.

References (AWS Organizations API Reference):
- ListCreateAccountStatus: NextToken continues the listing after the last result
  returned. moto 5.2.5 returns the length of the page as the token, so from the third
  page on a listing repeats its second page forever.
  https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListCreateAccountStatus.html
"""

from moto.organizations.models import OrganizationsBackend

_list_create_account_status = OrganizationsBackend.list_create_account_status


def list_create_account_status(self, **kwargs):
    answer = _list_create_account_status(self, **kwargs)
    if answer.get("NextToken"):
        start = int(kwargs.get("NextToken") or 0)
        answer["NextToken"] = str(start + len(answer["CreateAccountStatuses"]))
    return answer


OrganizationsBackend.list_create_account_status = list_create_account_status
