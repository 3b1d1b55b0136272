"""The National Public Service Portal (Cổng Dịch vụ công quốc gia, DVCQG): REST client, mapping, simulator."""
