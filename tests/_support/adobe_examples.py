"""Request and response examples of Adobe's Marketo developer pages, recorded as test data.

Each example names the page it comes from (title and URL). The bodies are copied from the pages;
where the page abbreviates (``...``), only the fields shown are recorded. The contract tests check
that our parsing accepts each documented response and that the simulator answers with the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    title: str
    url: str


BULK_LEAD = Page(
    "Bulk Lead Import",
    "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/bulk-lead-import",
)  # shared/reference/seed-bulk-lead-import.nl.md is the Dutch translation of this page
BULK_CUSTOM_OBJECT = Page(
    "Bulk Custom Object Import",
    "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/bulk-custom-object-import",
)
BULK_PROGRAM_MEMBER = Page(
    "Bulk Program Member Import",
    "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/bulk-program-member-import",
)
AUTHENTICATION = Page(
    "Authentication",
    "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication",
)
ERROR_CODES = Page(
    "Error Codes", "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/error-codes"
)
PROGRAM_MEMBERS = Page(
    "Program Members",
    "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/program-members",
)
LEAD_DATABASE_REFERENCE = Page(
    "Lead Database API reference: Describe Lead2 (model LeadAttribute2)",
    "https://developer.adobe.com/marketo-apis/api/mapi/#tag/Leads/operation/describeUsingGET_2",
)


@dataclass(frozen=True)
class Example:
    """One documented exchange: the request line, an uploaded file if any, and the response."""

    page: Page
    request: str
    response: Any = None
    file: str | None = None
    params: dict[str, str] = field(default_factory=dict)


# -- Bulk Lead Import -----------------------------------------------------------------------------

LEAD_FILE = (
    "FirstName,LastName,Email,Company\n"
    "Able,Baker,ablebaker@marketo.com,Marketo\n"
    "Charlie,Dog,charliedog@marketo.com,Marketo\n"
    "Easy,Fox,easyfox@marketo.com,Marketo\n"
)
LEAD_CREATE = Example(
    BULK_LEAD,
    "POST /bulk/v1/leads.json?format=csv",
    {
        "requestId": "d01f#15d672f8560",
        "result": [{"batchId": 3404, "importId": "3404", "status": "Queued"}],
        "success": True,
    },
    file=LEAD_FILE,
    params={"format": "csv"},
)
LEAD_STATUS = Example(
    BULK_LEAD,
    "GET /bulk/v1/leads/batch/{id}.json",
    {
        "requestId": "8136#146daebc2ed",
        "success": True,
        "result": [
            {
                "batchId": 1022,
                "status": "Complete",
                "numOfLeadsProcessed": 2,
                "numOfRowsFailed": 1,
                "numOfRowsWithWarning": 0,
                "message": "Import completed with errors, 2 records imported (2 members), 1 failed",
            }
        ],
    },
)

# -- Bulk Custom Object Import --------------------------------------------------------------------

CAR_FILE = (
    "color,make,model,vin\n"
    "red,bmw,2002,WBA4R7C55HK895912\n"
    "yellow,bmw,320i,WBA4R7C30HK896061\n"
    "blue,bmw,325i,WBS3U9C52HP970604\n"
)
#: The page's failure demonstration: "vin" changed to " vin".
CAR_FILE_SPACED_VIN = CAR_FILE.replace(",vin\n", ", vin\n", 1)
CAR_FAILURES_FILE = (
    "color,make,model, vin,Import Failure Reason\n"
    "red,bmw,2002,WBA4R7C55HK895912,missing.dedupe.fields\n"
    "yellow,bmw,320i,WBA4R7C30HK896061,missing.dedupe.fields\n"
    "blue,bmw,325i,WBS3U9C52HP970604,missing.dedupe.fields\n"
)
CAR_DESCRIBE = Example(
    BULK_CUSTOM_OBJECT,
    "GET /rest/v1/customobjects/{apiName}/describe.json",
    {
        "requestId": "46ff#15a686e66de",
        "result": [
            {
                "name": "car_c",
                "displayName": "Car",
                "description": "It is a car.",
                "createdAt": "2017-02-22T19:55:51Z",
                "updatedAt": "2017-02-22T19:55:51Z",
                "idField": "marketoGUID",
                "dedupeFields": ["vin"],
                "searchableFields": [["vin"], ["marketoGUID"]],
                "fields": [
                    {
                        "name": "createdAt",
                        "displayName": "Created At",
                        "dataType": "datetime",
                        "updateable": False,
                    },
                    {
                        "name": "marketoGUID",
                        "displayName": "Marketo GUID",
                        "dataType": "string",
                        "length": 36,
                        "updateable": False,
                    },
                    {
                        "name": "updatedAt",
                        "displayName": "Updated At",
                        "dataType": "datetime",
                        "updateable": False,
                    },
                    {
                        "name": "color",
                        "displayName": "Color",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                    },
                    {
                        "name": "make",
                        "displayName": "Make",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                    },
                    {
                        "name": "model",
                        "displayName": "Model",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                    },
                    {
                        "name": "vin",
                        "displayName": "VIN",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                    },
                ],
            }
        ],
        "success": True,
    },
)
CAR_CREATE = Example(
    BULK_CUSTOM_OBJECT,
    "POST /bulk/v1/customobjects/{apiName}/import.json?format=csv",
    {
        "requestId": "c015#15a68a23418",
        "result": [{"batchId": 1013, "status": "Queued", "objectApiName": "car_c"}],
        "success": True,
    },
    file=CAR_FILE,
    params={"format": "csv"},
)
CAR_STATUS = Example(
    BULK_CUSTOM_OBJECT,
    "GET /bulk/v1/customobjects/{apiName}/import/{batchId}/status.json",
    {
        "requestId": "2a5#15a68dd9be1",
        "result": [
            {
                "batchId": 1013,
                "operation": "import",
                "status": "Complete",
                "objectApiName": "car_c",
                "numOfObjectsProcessed": 3,
                "numOfRowsFailed": 0,
                "numOfRowsWithWarning": 0,
                "importTime": "2 second(s)",
                "message": "Import succeeded, 3 records imported (3 members)",
            }
        ],
        "success": True,
    },
    file=CAR_FILE,
)
CAR_STATUS_ALL_FAILED = Example(
    BULK_CUSTOM_OBJECT,
    "GET /bulk/v1/customobjects/car_c/import/{batchId}/status.json",
    {
        "requestId": "12260#15a68f491ed",
        "result": [
            {
                "batchId": 1016,
                "operation": "import",
                "status": "Complete",
                "objectApiName": "car_c",
                "numOfObjectsProcessed": 0,
                "numOfRowsFailed": 3,
                "numOfRowsWithWarning": 0,
                "importTime": "1 second(s)",
                "message": "Import completed with errors, 0 records imported (0 members), 3 failed",
            }
        ],
        "success": True,
    },
    file=CAR_FILE_SPACED_VIN,
)

# -- Bulk Program Member Import -------------------------------------------------------------------

LANNISTER_FILE = (
    "firstName,lastName,email,title,company,leadScore\n"
    "Joanna,Lannister,Joanna@Lannister.com,Lannister,House Lannister,0\n"
    "Tywin,Lannister,Tywin@Lannister.com,Lannister,House Lannister,0\n"
    "Cersei,Lannister,Cersei@Lannister.com,Lannister,House Lannister,0\n"
    "Jamie,Lannister,Jamie@Lannister.com,Lannister,House Lannister,0\n"
    "Tyrion,Lannister,Tyrion@Lannister.com,Lannister,House Lannister,0\n"
    "Kevan,Lannister,Kevan@Lannister.com,Lannister,House Lannister,0\n"
    "Dorna,Lannister,Dorna@Lannister.com,Lannister,House Lannister,0\n"
    "Lancel,Lannister,Lancel@Lannister.com,Lannister,House Lannister,0\n"
)
MEMBER_PARAMS = {"format": "csv", "programMemberStatus": "On List"}
MEMBER_CREATE = Example(
    BULK_PROGRAM_MEMBER,
    "POST /bulk/v1/program/{programId}/members/import.json?format=csv&programMemberStatus=On List",
    {
        "requestId": "17f4a#16f87f87325",
        "result": [{"batchId": 1040, "importId": "1040", "status": "Queued"}],
        "success": True,
    },
    file=LANNISTER_FILE,
    params=MEMBER_PARAMS,
)
MEMBER_STATUS = Example(
    BULK_PROGRAM_MEMBER,
    "GET /bulk/v1/program/members/import/{batchId}/status.json",
    {
        "requestId": "e0cb#16f87f8b177",
        "result": [
            {
                "batchId": 1040,
                "importId": "1040",
                "status": "Complete",
                "numOfLeadsProcessed": 8,
                "numOfRowsFailed": 0,
                "numOfRowsWithWarning": 0,
                "message": "Import succeeded, 8 records imported (8 members)",
            }
        ],
        "success": True,
    },
    file=LANNISTER_FILE,
    params=MEMBER_PARAMS,
)
TARGARYEN_BAD_SCORE = (
    "firstName,lastName,email,title,company,leadScore\n"
    "Aerys,Targaryen,Aerys@Targaryen.com,Targaryen,House Targaryen,TEXT_VALUE_IN_INTEGER_FIELD\n"
)
MEMBER_STATUS_FAILED_ROW = Example(
    BULK_PROGRAM_MEMBER,
    "GET /bulk/v1/program/members/import/{batchId}/status.json",
    {
        "requestId": "4c2d#16f8b32c8ef",
        "result": [
            {
                "batchId": 1046,
                "importId": "1046",
                "status": "Complete",
                "numOfLeadsProcessed": 0,
                "numOfRowsFailed": 1,
                "numOfRowsWithWarning": 0,
                "message": "Import completed with errors, 0 records imported (0 members), 1 failed",
            }
        ],
        "success": True,
    },
    file=TARGARYEN_BAD_SCORE,
    params=MEMBER_PARAMS,
)
MEMBER_FAILURES_FILE = (
    "firstName,lastName,email,title,company,leadScore,Import Failure Reason\n"
    "Aerys,Targaryen,Aerys@Targaryen.com,Targaryen,House Targaryen,TEXT_VALUE_IN_INTEGER_FIELD,"
    "Invalid data type in field Lead Score\n"
)
TARGARYEN_BAD_EMAIL = "firstName,lastName,email,title,company,leadScore\nAerys,Targaryen,INVALID_EMAIL,Targaryen,House Targaryen,0\n"
MEMBER_STATUS_WARNING = Example(
    BULK_PROGRAM_MEMBER,
    "GET /bulk/v1/program/members/import/{batchId}/status.json",
    {
        "requestId": "4ca1#16f883c2003",
        "result": [
            {
                "batchId": 1041,
                "importId": "1041",
                "status": "Complete",
                "numOfLeadsProcessed": 1,
                "numOfRowsFailed": 0,
                "numOfRowsWithWarning": 1,
                "message": "Import succeeded, 1 records imported (1 members), 1 warning.",
            }
        ],
        "success": True,
    },
    file=TARGARYEN_BAD_EMAIL,
    params=MEMBER_PARAMS,
)
MEMBER_WARNINGS_FILE = (
    "firstName,lastName,email,title,company,leadScore,Import Warning Reason\n"
    "Aerys,Targaryen,INVALID_EMAIL,Targaryen,House Targaryen,0,Invalid email address\n"
)
MEMBER_DESCRIBE = Example(
    PROGRAM_MEMBERS,
    "GET /rest/v1/programs/members/describe.json",
    {
        "requestId": "f813#1791563c7cc",
        "result": [
            {
                "name": "API Program Membership",
                "description": "Map for API program membership fields",
                "createdAt": "2021-03-20T01:30:05Z",
                "updatedAt": "2021-03-20T01:30:05Z",
                "dedupeFields": ["leadId", "programId"],
                "searchableFields": [["leadId"], ["myCustomField"], ["reachedSuccess"], ["statusName"]],
                "fields": [
                    {
                        "name": "acquiredBy",
                        "displayName": "acquiredBy",
                        "dataType": "boolean",
                        "updateable": False,
                        "crmManaged": False,
                    },
                    {
                        "name": "leadId",
                        "displayName": "leadId",
                        "dataType": "integer",
                        "updateable": False,
                        "crmManaged": False,
                    },
                    {
                        "name": "myCustomField",
                        "displayName": "myCustomField",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                        "crmManaged": False,
                    },
                ],
            }
        ],
        "success": True,
    },
)

# -- Describe Lead2 (no example on the pages: the shape of the reference's LeadAttribute2 model) ---

LEAD_DESCRIBE = Example(
    LEAD_DATABASE_REFERENCE,
    "GET /rest/v1/leads/describe2.json",
    {
        "requestId": "5d3b#17f1a3cb9a4",
        "result": [
            {
                "name": "API Lead",
                "searchableFields": [["email"], ["id"], ["cookies"], ["sfdcLeadId"]],
                "fields": [
                    {
                        "name": "id",
                        "displayName": "Id",
                        "dataType": "integer",
                        "updateable": False,
                        "crmManaged": False,
                    },
                    {
                        "name": "email",
                        "displayName": "Email Address",
                        "dataType": "email",
                        "length": 255,
                        "updateable": True,
                        "crmManaged": False,
                    },
                    {
                        "name": "firstName",
                        "displayName": "First Name",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                        "crmManaged": False,
                    },
                    {
                        "name": "lastName",
                        "displayName": "Last Name",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                        "crmManaged": False,
                    },
                    {
                        "name": "company",
                        "displayName": "Company Name",
                        "dataType": "string",
                        "length": 255,
                        "updateable": True,
                        "crmManaged": False,
                    },
                ],
            }
        ],
        "success": True,
    },
)

# -- Authentication and error codes ---------------------------------------------------------------

TOKEN = Example(
    AUTHENTICATION,
    "GET <Identity URL>/oauth/token?grant_type=client_credentials&client_id=<Client Id>&client_secret=<Client Secret>",
    {
        "access_token": "cdf01657-110d-4155-99a7-f986b2ff13a0:int",
        "token_type": "bearer",
        "expires_in": 3599,
        "scope": "apis@acmeinc.com",
    },
)
ERROR_ENVELOPE = Example(
    ERROR_CODES,
    "any REST call answered HTTP 200 with success false",
    {
        "requestId": "e42b#14272d07d78",
        "success": False,
        "errors": [{"code": "601", "message": "Unauthorized"}],
    },
)

CREATE_EXAMPLES = [LEAD_CREATE, CAR_CREATE, MEMBER_CREATE]
STATUS_EXAMPLES = [
    LEAD_STATUS,
    CAR_STATUS,
    CAR_STATUS_ALL_FAILED,
    MEMBER_STATUS,
    MEMBER_STATUS_FAILED_ROW,
    MEMBER_STATUS_WARNING,
]
DESCRIBE_EXAMPLES = [LEAD_DESCRIBE, CAR_DESCRIBE, MEMBER_DESCRIBE]
